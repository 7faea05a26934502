import pytest

from briefbot.retrieve import Passage
from briefbot.verify import AnswerSentence, Verifier, is_refusal, missing_facts, split_answer

GUARDS = (
    "In Soviet times, the 1344-km Tajik–Afghan border was secured by approximately 25,000 border guards. "
    "Currently, the number of Tajik border guards on patrol is 16,000."
)
BOMB = "On the same day of Moscow’s talks, the US military in Afghanistan dropped a GBU-43, “the Mother Of All Bombs,”."


def passage(n, text, start=1000):
    return Passage(n=n, chunk_id=f"doc:{n:03d}", doc_id="doc", section="S", start=start, end=start + len(text), text=text, score=1.0)


def test_split_answer_keeps_markers_with_their_sentence():
    sentences = split_answer("There are 16,000 guards [1]. Earlier there were 25,000. [2] It was 1344 km long [1, 3].")
    assert sentences == [
        AnswerSentence("There are 16,000 guards.", (1,)),
        AnswerSentence("Earlier there were 25,000.", (2,)),
        AnswerSentence("It was 1344 km long.", (1, 3)),
    ]


def test_hard_facts_must_occur_in_the_passage():
    assert missing_facts("There are 16,000 Tajik guards.", GUARDS) == []
    assert missing_facts("There are 17,000 Tajik guards.", GUARDS) == ["17000"]
    assert missing_facts("There are 16,000 Uzbek guards.", GUARDS) == ["Uzbek"]
    assert missing_facts("Russian guards were Soviet.", "Russia had Soviet guards") == []


@pytest.mark.parametrize(
    "sentence", ["NOT IN BRIEFING", "The passages do not mention the population.", "This information is not provided."]
)
def test_refusal_phrases_are_recognised(sentence):
    assert is_refusal(sentence)


def test_a_paraphrase_is_supported_and_its_span_is_the_supporting_sentence(fake_bot):
    verifier = Verifier(fake_bot.verifier.embed_model, 0.5)
    p = passage(1, GUARDS)
    support = verifier.support(AnswerSentence("Today 16,000 Tajik border guards patrol the border.", (1,)), [p])
    assert support is not None and support.passage == 1
    assert GUARDS[support.start - p.start : support.end - p.start] == "Currently, the number of Tajik border guards on patrol is 16,000."


def test_swapped_numbers_and_unrelated_claims_are_unsupported(fake_bot):
    verifier = Verifier(fake_bot.verifier.embed_model, 0.5)
    passages = [passage(1, GUARDS), passage(2, BOMB, start=5000)]
    assert verifier.support(AnswerSentence("Today 18,000 Tajik border guards patrol.", (1,)), passages) is None
    assert verifier.support(AnswerSentence("The capital of France is Paris.", (1,)), passages) is None
    assert verifier.support(AnswerSentence("Bread needs flour and water.", (2,)), passages) is None


def test_a_wrong_or_unretrieved_citation_is_moved_to_the_supporting_passage(fake_bot):
    verifier = Verifier(fake_bot.verifier.embed_model, 0.5)
    passages = [passage(1, GUARDS), passage(2, BOMB, start=5000)]
    assert verifier.support(AnswerSentence("The US military dropped a GBU-43.", (1,)), passages).passage == 2
    assert verifier.support(AnswerSentence("The US military dropped a GBU-43.", (7,)), passages).passage == 2
