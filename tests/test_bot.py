import json

import pytest

from briefbot import Answer
from briefbot.answer import AnswerPolicy, VerifiedSentence
from briefbot.errors import QuestionError
from briefbot.span import Passage


def test_answer_cites_exact_spans(fake_bot):
    answer = fake_bot.ask("How many Tajik border guards are on patrol now?")
    assert not answer.refused
    assert "16,000" in answer.text
    assert answer.citations
    for citation in answer.citations:
        assert fake_bot.briefing.text[citation.start : citation.end] == citation.quote
        assert f"[{citation.n}]" in answer.text
    assert answer.timings.total >= answer.timings.first_token >= answer.timings.retrieve > 0


def test_hallucinated_sentence_is_removed_and_the_rest_kept(fake_bot, fake_llm):
    fake_llm.replies.append(
        "Currently there are 16,000 Tajik border guards on patrol [1]. "
        "Their commander is General Ivanov, appointed in 2011 [1]."
    )
    answer = fake_bot.ask("How many Tajik border guards are on patrol now?")
    assert "16,000" in answer.text
    assert "Ivanov" not in answer.text and "2011" not in answer.text


def test_entirely_unsupported_answer_becomes_a_refusal(fake_bot, fake_llm):
    fake_llm.replies.append("Base No.201 holds 7,000 soldiers [2].")
    answer = fake_bot.ask("How many soldiers are stationed at base No.201?")
    assert answer.refused
    assert "7,000" not in answer.text
    assert "does not answer" in answer.text
    assert 1 <= len(answer.citations) <= 3


def test_true_sentence_that_does_not_answer_becomes_a_refusal(fake_bot, fake_llm):
    fake_llm.replies.append("The Taliban currently controls 10–15% of Afghan territory [2].")
    answer = fake_bot.ask("Who is the current leader of the Taliban?")
    assert answer.refused
    assert "10–15" not in answer.text


def test_model_refusal_lists_the_closest_passages(fake_bot, fake_llm):
    fake_llm.replies.append("NOT IN BRIEFING")
    answer = fake_bot.ask("What is Tajikistan's population?")
    assert answer.refused
    for citation in answer.citations:
        assert fake_bot.briefing.text[citation.start : citation.end] == citation.quote
        assert f"[{citation.n}]" in answer.text


def test_off_topic_question_is_refused_without_generation(fake_bot, fake_llm):
    fake_llm.replies.append("Bake at 220 degrees for 40 minutes [1].")
    answer = fake_bot.ask("How do I bake sourdough bread?")
    assert answer.refused
    assert "220" not in answer.text


def test_follow_up_is_condensed_and_reported(fake_bot):
    history = [
        {"role": "user", "content": "Where is the Russian air base in Kyrgyzstan?"},
        {"role": "assistant", "content": "It is in Kant, near Bishkek [1]."},
    ]
    answer = fake_bot.chat("When was it set up?", history)
    assert answer.standalone_question != "When was it set up?"
    assert "Kyrgyzstan" in answer.standalone_question


def test_a_condensation_that_drops_the_follow_up_keeps_both_questions(fake_bot, fake_llm):
    history = [
        {"role": "user", "content": "How much of the world's heroin comes from Afghanistan?"},
        {"role": "assistant", "content": "90 percent [2]."},
    ]
    fake_llm.condensations.append("How much of the world's heroin comes from Afghanistan?")
    answer = fake_bot.chat("How much of that goes to Russia?", history)
    assert answer.standalone_question == "How much of the world's heroin comes from Afghanistan? How much of that goes to Russia?"
    fake_llm.condensations.append("How much of the world's heroin goes to Russia?")
    assert fake_bot.chat("How much of that goes to Russia?", history).standalone_question == "How much of the world's heroin goes to Russia?"


def test_stream_yields_text_then_the_answer(fake_bot):
    items = list(fake_bot.stream("What did the US military drop in Afghanistan?"))
    assert all(isinstance(item, str) for item in items[:-1])
    assert isinstance(items[-1], Answer)
    assert "".join(items[:-1]) == items[-1].text


def test_answer_serialises_with_the_documented_fields(fake_bot):
    data = json.loads(json.dumps(fake_bot.ask("Who is the president of Tajikistan?").to_dict()))
    assert set(data) == {"text", "refused", "citations", "standalone_question", "timings", "sentences", "refusal_reason", "answer_margin"}
    assert set(data["timings"]) == {"retrieve", "first_token", "total", "model_first_token", "model_last_token"}
    timings = data["timings"]
    assert timings["model_first_token"] <= timings["model_last_token"] <= timings["first_token"] <= timings["total"]
    for citation in data["citations"]:
        assert set(citation) == {"n", "chunk_id", "section", "start", "end", "quote", "doc_id", "page"}
        assert citation["doc_id"] == "russia-taliban-2017-04-25" and citation["page"] is None  # a text file has no pages
    for sentence in data["sentences"]:
        assert set(sentence) == {"text", "check", "cites", "margin"}
        assert sentence["check"] in {"copy", "entailed", "quoted"}


@pytest.mark.parametrize("question", ["", "   \n\t ", "\x00\x01", "x" * 2001, None, 42])
def test_bad_questions_get_clear_errors(fake_bot, question):
    with pytest.raises(QuestionError):
        fake_bot.ask(question)


def test_bad_history_gets_a_clear_error(fake_bot):
    with pytest.raises(QuestionError):
        fake_bot.chat("And then?", [{"speaker": "me"}])


def test_retrieved_passages_carry_their_whole_paragraphs(fake_bot):
    text = fake_bot.briefing.text
    passages = fake_bot.retriever.retrieve("How many Tajik border guards are on patrol today?").passages
    assert passages[0].front_matter
    assert any(len(p.paragraph) > len(p.text) for p in passages)
    for p in passages:
        start = text.index(p.paragraph)
        end = start + len(p.paragraph)
        assert start <= p.start and p.end <= end
        assert (start == 0 or text[start - 1] == "\n") and (end == len(text) or text[end] == "\n")


def test_a_sentence_that_reverses_its_source_is_replaced_by_the_source_itself(fake_bot, fake_llm):
    """The negation flip of issue #14: the model's "peace talks were possible" for the briefing's
    "No peace talks were possible …" is never shown; the cited sentence is, word for word."""
    fake_llm.replies.append(
        "The Taliban said peace talks were possible while US and allied troops remained in Afghanistan [2]."
    )
    answer = fake_bot.ask("What was the Taliban's condition for peace talks?")
    assert not answer.refused
    assert "peace talks were possible" not in answer.text.replace("No peace talks were possible", "")
    (sentence,) = answer.sentences
    assert sentence.check == "quoted"
    (citation,) = answer.citations
    assert fake_bot.briefing.text[citation.start : citation.end] == citation.quote
    assert " ".join(citation.quote.split()) in answer.text
    assert citation.quote.lstrip().startswith("No peace talks")


def test_a_garbled_copy_is_replaced_by_the_closest_source_sentence(fake_bot, fake_llm):
    """The generator copied "10–15%" as "15–15%": the number stands nowhere, so the sentence is
    unsupported, but the source sentence it was copying is shown verbatim in its place."""
    fake_llm.replies.append("15–15% of Afghan territory is under Taliban control [2].")
    fake_llm.margins.append(4.0)  # the answer check on the quote
    answer = fake_bot.ask("How much of Afghanistan is under Taliban control?")
    assert not answer.refused
    assert "15–15" not in answer.text and "10–15%" in answer.text
    (sentence,) = answer.sentences
    assert sentence.check == "quoted" and answer.text.startswith("“")
    (citation,) = answer.citations
    assert fake_bot.briefing.text[citation.start : citation.end] == citation.quote
    assert " ".join(citation.quote.split()) in answer.text


def test_a_closest_source_sentence_that_does_not_answer_is_still_refused(fake_bot, fake_llm):
    fake_llm.replies.append("15–15% of Afghan territory is under Taliban control [2].")
    fake_llm.margins.append(-3.0)
    answer = fake_bot.ask("How much of Afghanistan is under Taliban control?")
    assert answer.refused and "answer the question" in answer.refusal_reason


def test_a_paraphrase_is_quoted_instead_by_default(fake_bot, fake_llm):
    fake_llm.replies.append("Tajikistan now has 16,000 border guards on patrol [2].")
    fake_llm.margins.append(1.5)  # the quote states it, though not surely enough to show the paraphrase
    answer = fake_bot.ask("How many Tajik border guards are on patrol now?")
    assert [s.check for s in answer.sentences] == ["quoted"]
    assert answer.sentences[0].margin == 1.5
    assert answer.text.startswith("“") and "16,000" in answer.text


def test_a_quote_that_does_not_state_what_the_generator_wrote_makes_a_refusal(fake_bot, fake_llm):
    """An answer to an adversarial question often restates its false premise: the quote is true,
    but what the generator read into it is not, so the quote answers nothing."""
    fake_llm.replies.append("Tajikistan disbanded its 16,000 border guards [2].")
    fake_llm.margins.append(-1.0)  # no, the quote does not state it
    answer = fake_bot.ask("When did Tajikistan disband its border guards?")
    assert answer.refused and "16,000" not in answer.text
    assert answer.refusal_reason == (
        "the generator wrote a sentence its quote does not state (yes−no margin -1.00), so its answer is not trusted"
    )
    assert not fake_llm.margins  # asked once, before the answer check


def test_the_quote_check_can_be_switched_off(fake_bot, fake_llm, monkeypatch):
    monkeypatch.setattr(fake_bot.verifier, "quote_threshold", None)  # as Settings(quote_threshold=None)
    fake_llm.replies.append("Tajikistan now has 16,000 border guards on patrol [2].")
    answer = fake_bot.ask("How many Tajik border guards are on patrol now?")
    assert [s.check for s in answer.sentences] == ["quoted"]
    assert answer.sentences[0].margin is None  # the model was not asked whether the quote states it


def test_a_paraphrase_is_shown_only_with_the_models_yes(fake_bot, fake_llm, monkeypatch):
    monkeypatch.setattr(fake_bot.verifier, "entail_threshold", 3.5)  # as Settings(entail_threshold=3.5) opts in
    question = "How many Tajik border guards are on patrol now?"
    paraphrase = "Tajikistan now has 16,000 border guards on patrol [2]."
    fake_llm.replies.append(paraphrase)
    fake_llm.margins.append(5.0)
    kept = fake_bot.ask(question)
    assert [s.check for s in kept.sentences] == ["entailed"] and kept.sentences[0].margin == 5.0
    assert kept.text.startswith("Tajikistan now has 16,000 border guards on patrol")
    fake_llm.replies.append(paraphrase)
    fake_llm.margins.append(2.0)  # a Yes, but below the 3.5 a paraphrase needs
    quoted = fake_bot.ask(question)
    assert [s.check for s in quoted.sentences] == ["quoted"]
    assert quoted.text.startswith("“") and "16,000" in quoted.text
    assert " ".join(quoted.citations[0].quote.split()) in quoted.text


def test_the_generator_is_asked_its_yes_or_no_only_once_it_has_finished_generating(fake_bot):
    """The yes/no check runs in the generator's own model context: asking mid-answer would change
    the context under the generation (and, with one lock, wait for itself)."""
    from briefbot.answer import verified_stream
    from briefbot.verify import Verifier

    question = "How many Tajik border guards are on patrol now?"
    passages = fake_bot.retriever.retrieve(question).passages
    events = []

    def generation():
        events.append("generating")
        yield "Tajikistan now has 16,000 border guards on patrol [2]. "
        yield "Earlier, 25,000 guards secured the border [2]."
        events.append("generated")

    verifier = Verifier(fake_bot.verifier.embed_model, 0.6, fake_bot.verifier.source,
                        entail=lambda claim, quote: events.append("asked") or 5.0, entail_threshold=3.5)
    shown = [v for v in verified_stream(generation(), passages, verifier, question) if v is not None]
    assert shown and "asked" in events
    assert events.index("generated") < events.index("asked")


def test_a_true_sentence_the_model_says_does_not_answer_the_question_becomes_a_refusal(fake_bot, fake_llm):
    """SQuAD 2.0's adversarial questions: the cited sentence is true, but about something else."""
    copy = "Currently, the number of Tajik border guards on patrol is 16,000 [2]."
    question = "How many Tajik border guards are on patrol now?"
    fake_llm.replies.append(copy)
    fake_llm.margins.append(-3.0)  # the answer check (a copy needs no entailment check)
    refused = fake_bot.ask(question)
    assert refused.refused and "16,000" not in refused.text
    assert refused.refusal_reason == (
        "the generator judged that the supported sentences do not answer the question (yes−no margin -3.00 < +0.00)"
    )
    fake_llm.replies.append(copy)
    fake_llm.margins.append(3.0)
    answered = fake_bot.ask(question)
    assert not answered.refused and [s.check for s in answered.sentences] == ["copy"]
    assert (refused.answer_margin, answered.answer_margin) == (-3.0, 3.0)


def test_a_sentence_resting_only_on_text_already_shown_is_not_shown_again(fake_bot, fake_llm):
    # The model copies the same sentence twice: the answer shows it once.
    sentence = "Currently, the number of Tajik border guards on patrol is 16,000 [2]."
    fake_llm.replies.append(f"{sentence} {sentence}")
    answer = fake_bot.ask("How many Tajik border guards are on patrol now?")
    assert not answer.refused
    assert len(answer.sentences) == 1 and answer.text.count("16,000") == 1


def test_a_refusal_says_which_answer_check_refused(fake_bot, fake_llm):
    # True and cited, but a "who" question needs someone the question does not already name.
    fake_llm.replies.append("Currently, the number of Tajik border guards on patrol is 16,000 [2].")
    refused = fake_bot.ask("Who commands the Tajik border guards on patrol?")
    assert refused.refused and not refused.sentences
    assert refused.refusal_reason.startswith("the supported sentences do not give the kind of fact the question asks for")


def _policy_case(quote_text, paragraph, synonym_margin=4.0):
    start = 100 + paragraph.index(quote_text)
    passage = Passage("doc", start, start + len(quote_text), quote_text, "doc:001", "S", n=2, score=1.0, paragraph=paragraph)
    asked = []

    def answers(question, quotes):
        asked.append(quotes)
        return 0.5

    def synonym(question, sentence, word, replacement):
        asked.append((sentence, word, replacement))
        return synonym_margin

    policy = AnswerPolicy({"doc": " " * 100 + paragraph}, answers, threshold=0.0, unnamed_threshold=1.0, synonym=synonym, synonym_threshold=0.0)
    return policy, [VerifiedSentence(quote_text, (passage.cite(passage.start, passage.end),))], [passage], asked


def test_a_question_about_someone_the_briefing_never_names_is_refused_unasked():
    paragraph = "The Dutch fleet sailed in 1652. It reached the cape in May."
    policy, kept, passages, asked = _policy_case("The Dutch fleet sailed in 1652.", paragraph)
    why, margin = policy.judge("When did the Danish fleet sail?", kept, passages)
    assert why == "the briefing never names “Danish”, which the question asks about"
    assert (margin, asked) == (None, [])
    assert policy.judge("When did the Dutch fleet sail?", kept, passages) == (None, 0.5)


def test_a_name_the_briefing_has_but_the_quotes_lack_needs_the_surer_margin():
    paragraph = "The Dutch fleet sailed in 1652. The Danish fleet reached the cape in May."
    policy, kept, passages, asked = _policy_case("The Dutch fleet sailed in 1652.", paragraph)
    why, margin = policy.judge("When did the Danish fleet sail?", kept, passages)
    assert margin == 0.5 and asked == ["The Dutch fleet sailed in 1652."]
    assert why == (
        "the generator judged that the supported sentences do not answer the question "
        "(yes−no margin +0.50 < +1.00; the quotes never name “Danish”)"
    )


def test_a_name_in_the_sentence_before_the_quote_counts_as_quoted():
    # "The country" is Turkmenistan: the sentence before says so, and the plain margin applies.
    paragraph = "Turkmenistan declared its neutrality in 1995. The country now lacks trained border guards."
    policy, kept, passages, asked = _policy_case("The country now lacks trained border guards.", paragraph)
    assert policy.judge("Why does Turkmenistan lack border guards?", kept, passages) == (None, 0.5)
    # A name further back, or after the quote, is not what the quote is about.
    paragraph = "Turkmenistan declared its neutrality in 1995. Its neighbour has an army. The country now lacks trained border guards."
    policy, kept, passages, asked = _policy_case("The country now lacks trained border guards.", paragraph)
    why, margin = policy.judge("Why does Turkmenistan lack border guards?", kept, passages)
    assert margin == 0.5 and why.endswith("the quotes never name “Turkmenistan”)")


def test_a_question_that_changes_one_word_of_the_quote_to_another_meaning_is_refused():
    paragraph = "The museum opened in 1890. Its northern gate was rebuilt in 1820 by the city."
    quote = "Its northern gate was rebuilt in 1820 by the city."
    policy, kept, passages, asked = _policy_case(quote, paragraph, synonym_margin=-1.5)
    why, margin = policy.judge("Its southern gate was rebuilt in which year?", kept, passages)
    assert why == "the question asks about “southern” where the quote says “northern”"
    assert (margin, asked) == (None, [(quote, "southern", "northern")])


def test_a_question_that_changes_one_word_to_its_opposite_is_refused_unasked():
    paragraph = "The museum opened in 1890. Its misunderstood gate was rebuilt in 1820 by the city."
    quote = "Its misunderstood gate was rebuilt in 1820 by the city."
    policy, kept, passages, asked = _policy_case(quote, paragraph, synonym_margin=4.0)
    why, margin = policy.judge("Its understood gate was rebuilt in which year?", kept, passages)
    assert why == "the question asks about “understood” where the quote says “misunderstood”"
    assert (margin, asked) == (None, [])


def test_a_question_that_changes_one_word_for_a_synonym_is_answered():
    paragraph = "The museum opened in 1890. Its northern gate was rebuilt in 1820 by the city."
    quote = "Its northern gate was rebuilt in 1820 by the city."
    policy, kept, passages, asked = _policy_case(quote, paragraph, synonym_margin=1.5)
    assert policy.judge("Its northern gate was reconstructed in which year?", kept, passages) == (None, 0.5)
    assert asked == [(quote, "reconstructed", "rebuilt"), quote]


def test_a_question_that_negates_what_the_quote_states_is_refused_unasked():
    paragraph = "The museum opened in 1890. Its northern gate was rebuilt in 1820 by the city."
    policy, kept, passages, asked = _policy_case("Its northern gate was rebuilt in 1820 by the city.", paragraph)
    why, margin = policy.judge("When was the non-northern gate rebuilt?", kept, passages)
    assert why == "the question asks about “non northern gate” where the quote says “northern gate”"
    assert (margin, asked) == (None, [])


def test_a_question_about_what_is_not_so_needs_the_surer_margin_of_quotes_that_deny_nothing():
    paragraph = "The museum opened in 1890. Its northern gate was rebuilt in 1820 by the city."
    policy, kept, passages, _ = _policy_case("Its northern gate was rebuilt in 1820 by the city.", paragraph)
    why, margin = policy.judge("Which gate did the city not rebuild?", kept, passages)
    assert margin == 0.5
    assert why.endswith("(yes−no margin +0.50 < +1.00; the question asks what is not so, and the quotes deny nothing)")
    denying = "The museum opened in 1890 but never had a gate."
    policy, kept, passages, _ = _policy_case(denying, denying)
    assert policy.judge("Which gate was not rebuilt?", kept, passages) == (None, 0.5)


def test_a_who_question_shown_a_quote_is_judged_by_the_names_the_generator_claimed():
    paragraph = "In 1529 the city became the seat of the General Sejm, permanent from 1569, said Moscow."
    policy, kept, passages, _ = _policy_case(paragraph, paragraph)
    question = "Who did the city serve as the seat for in 1529?"
    named = [VerifiedSentence(f"“{paragraph}” [2]", kept[0].spans, "quoted", claim="The General Sejm, permanent from 1569.")]
    assert policy.judge(question, named, passages) == (None, 0.5)
    # The quote names Moscow, but the generator's own answer names no one.
    nameless = [VerifiedSentence(f"“{paragraph}” [2]", kept[0].spans, "quoted", claim="The city became the seat in 1529.")]
    assert policy.judge(question, nameless, passages)[0].startswith("the supported sentences do not give the kind of fact")
