"""Hybrid retrieval: BM25 and MiniLM dense search, fused by reciprocal rank (llama-index)."""

from __future__ import annotations

from dataclasses import dataclass

from briefbot.briefing import paragraph_around
from briefbot.index import BriefingIndex, chunk_of
from briefbot.span import Passage


@dataclass(frozen=True)
class Retrieval:
    passages: list[Passage]
    best_dense_score: float


class HybridRetriever:
    def __init__(self, index: BriefingIndex, top_k: int):
        from llama_index.core import VectorStoreIndex
        from llama_index.core.llms import MockLLM
        from llama_index.core.retrievers import QueryFusionRetriever
        from llama_index.retrievers.bm25 import BM25Retriever

        candidates = max(top_k * 2, 8)
        self._index = index
        self._front_matter = {}
        for node in sorted(index.nodes, key=lambda node: node.metadata["start"], reverse=True):
            self._front_matter[node.metadata["doc_id"]] = node
        vector_index = VectorStoreIndex.from_vector_store(index.vector_store, embed_model=index.embed_model)
        self._dense = vector_index.as_retriever(similarity_top_k=candidates)
        bm25 = BM25Retriever.from_defaults(nodes=index.nodes, similarity_top_k=min(candidates, len(index.nodes)))
        # num_queries=1: no LLM query rewriting, so the MockLLM is never called; it only stops
        # llama-index from resolving its default (OpenAI) LLM.
        self._fusion = QueryFusionRetriever(
            [self._dense, bm25], llm=MockLLM(), mode="reciprocal_rerank", num_queries=1, use_async=False, similarity_top_k=top_k
        )

    def retrieve(self, question: str) -> Retrieval:
        # Fusion replaces scores by ranks, so the dense cosine that abstention needs is read separately.
        dense = self._dense.retrieve(question)
        fused = [(hit.node, float(hit.score or 0.0)) for hit in self._fusion.retrieve(question)]
        best = max((float(hit.score or 0.0) for hit in dense), default=0.0)
        if not fused:
            return Retrieval([], best)
        # The briefing's opening chunk (date, title, lede) always comes first: questions about the
        # briefing itself need it, and a fixed first passage keeps the prompt prefix cacheable.
        front = self._front_matter[fused[0][0].metadata["doc_id"]]
        ranked = [(front, 0.0)] + [(node, score) for node, score in fused if node.node_id != front.node_id]
        return Retrieval([self._passage(n, node, score, front) for n, (node, score) in enumerate(ranked, start=1)], best)

    def opening(self, doc_id: str) -> Passage:
        """Passage [1] of every answer about this briefing: its front matter."""
        front = self._front_matter[doc_id]
        return self._passage(1, front, 0.0, front)

    def _passage(self, n: int, node, score: float, front) -> Passage:
        chunk = chunk_of(node)
        return Passage(
            **chunk.__dict__,
            n=n,
            score=score,
            front_matter=node is front,
            paragraph=paragraph_around(self._index.briefings[chunk.doc_id].text, chunk.start, chunk.end),
        )
