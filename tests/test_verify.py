import pytest

from briefbot.span import Passage
from briefbot.verify import (
    AnswerSentence,
    Rewording,
    Verifier,
    answers_question,
    asks_negated,
    flipped_negation,
    opposites,
    fact_in,
    facts,
    is_copy,
    is_refusal,
    names,
    reworded,
    split_answer,
    unnamed_in,
)

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


def missing_facts(sentence, passage_text):
    return [fact for fact in facts(sentence) if not fact_in(fact, passage_text)]


def test_hard_facts_must_occur_in_the_passage():
    assert missing_facts("There are 16,000 Tajik guards.", GUARDS) == []
    assert missing_facts("There are 17,000 Tajik guards.", GUARDS) == ["17000"]
    assert missing_facts("There are 16,000 Uzbek guards.", GUARDS) == ["Uzbek"]
    assert missing_facts("Russian guards were Soviet.", "Russia had Soviet guards") == []
    assert missing_facts("The border of Tajikistan and Afghanistan is 1344 km.", GUARDS) == []
    assert missing_facts("The border of Pakistan and Afghanistan is 1344 km.", GUARDS) == ["Pakistan"]


@pytest.mark.parametrize(
    "sentence", ["NOT IN BRIEFING", "The passages do not mention the population.", "This information is not provided."]
)
def test_refusal_phrases_are_recognised(sentence):
    assert is_refusal(sentence)


def test_a_paraphrase_is_supported_and_its_span_is_the_supporting_sentence(fake_bot):
    verifier = Verifier(fake_bot.verifier.embed_model, 0.5)
    p = passage(1, GUARDS)
    spans = verifier.support(AnswerSentence("Today 16,000 Tajik border guards patrol the border.", (1,)), [p])
    assert spans is not None and [s.n for s in spans] == [1]
    assert GUARDS[spans[0].start - p.start : spans[0].end - p.start] == "Currently, the number of Tajik border guards on patrol is 16,000."


def test_swapped_numbers_and_unrelated_claims_are_unsupported(fake_bot):
    verifier = Verifier(fake_bot.verifier.embed_model, 0.5)
    passages = [passage(1, GUARDS), passage(2, BOMB, start=5000)]
    assert verifier.support(AnswerSentence("Today 18,000 Tajik border guards patrol.", (1,)), passages) is None
    assert verifier.support(AnswerSentence("The capital of France is Paris.", (1,)), passages) is None
    assert verifier.support(AnswerSentence("Bread needs flour and water.", (2,)), passages) is None


def test_a_wrong_or_unretrieved_citation_is_moved_to_the_supporting_passage(fake_bot):
    verifier = Verifier(fake_bot.verifier.embed_model, 0.5)
    passages = [passage(1, GUARDS), passage(2, BOMB, start=5000)]
    assert verifier.support(AnswerSentence("The US military dropped a GBU-43.", (1,)), passages)[0].n == 2
    assert verifier.support(AnswerSentence("The US military dropped a GBU-43.", (7,)), passages)[0].n == 2


def test_a_sentence_joining_two_chunks_cites_both(fake_bot):
    verifier = Verifier(fake_bot.verifier.embed_model, 0.5)
    strike = "This was targeting IS positions in Nangarhar, which, according to the US military, destroyed a total of 36 IS fighters."
    passages = [passage(1, BOMB, start=5000), passage(2, strike, start=5200)]
    spans = verifier.support(AnswerSentence("The US military dropped a GBU-43 on IS in Nangarhar, killing 36 fighters.", (1,)), passages)
    assert spans is not None and {s.n for s in spans} == {1, 2}


def test_the_publication_date_is_not_joined_to_an_event(fake_bot):
    verifier = Verifier(fake_bot.verifier.embed_model, 0.5)
    title = "A Dangerous Flirtation: Russia and the Taliban. 25 April 2017."
    front = Passage(n=1, chunk_id="doc:front", doc_id="doc", section="", start=0, end=len(title), text=title, score=1.0, front_matter=True)
    passages = [front, passage(2, BOMB, start=5000)]
    assert verifier.support(AnswerSentence("The US military dropped a GBU-43 on 25 April 2017.", (2, 1)), passages) is None
    assert verifier.support(AnswerSentence("The briefing is dated 25 April 2017.", (1,)), passages) is not None


def test_names_may_come_from_the_question_but_numbers_may_not(fake_bot):
    verifier = Verifier(fake_bot.verifier.embed_model, 0.5)
    invited = passage(1, "The Kremlin invited the United States to take part, but the Americans rejected the invitation.")
    no = AnswerSentence("No, Washington rejected the Kremlin's invitation.", (1,))
    assert verifier.support(no, [invited], "Did Washington accept the Kremlin's invitation?") is not None
    assert verifier.support(no, [invited], "Did the US accept?") is None
    guards = passage(2, GUARDS)
    assert verifier.support(AnswerSentence("Yes, 20,000 Tajik guards patrol.", (2,)), [guards], "Do 20,000 Tajik guards patrol?") is None


TOUR = "Putin has already expressed his intention to make a trip to the Turkmen capital of Ashgabat."
BASE = "It was agreed that the capacity of Russian military base No.201 will also be used to secure the border with Afghanistan."


def test_a_name_must_stand_in_the_paragraph_of_the_supporting_passage(fake_bot):
    verifier = Verifier(fake_bot.verifier.embed_model, 0.5)
    passages = [passage(1, TOUR), passage(2, BASE, start=3000)]
    ashgabat = AnswerSentence("Russia's military base in Ashgabat will help secure the border with Afghanistan.", (2,))
    assert verifier.support(ashgabat, passages) is None
    # The same chunk inside a paragraph that does name Ashgabat supports it.
    in_paragraph = [passages[0], Passage(**{**passages[1].__dict__, "paragraph": f"{BASE} Ashgabat agreed."})]
    assert verifier.support(ashgabat, in_paragraph) is not None


def test_a_sentence_that_starts_with_the_wrong_name_is_unsupported(fake_bot):
    base = "Kyrgyzstan will also continue to host the Russian air base in Kant, near Bishkek, its capital."
    briefing = f"Extremism could spread further into Kazakhstan and Russia. {base} The border is currently quiet."
    verifier = Verifier(fake_bot.verifier.embed_model, 0.5, briefing)
    passages = [passage(1, base)]
    swapped = AnswerSentence("Kazakhstan hosts the Russian air base in Kant, near Bishkek, its capital.", (1,))
    assert verifier.support(swapped, passages) is None
    assert verifier.support(AnswerSentence("Kyrgyzstan hosts the Russian air base in Kant, near Bishkek.", (1,)), passages) is not None
    # A first word the briefing writes in lower case, or never, is just how the sentence starts.
    assert verifier.support(AnswerSentence("Currently Kyrgyzstan hosts the Russian air base in Kant.", (1,)), passages) is not None
    assert verifier.support(AnswerSentence("Today the Russian air base in Kant, near Bishkek, is in Kyrgyzstan.", (1,)), passages) is not None


def test_the_citation_goes_to_the_passage_that_says_it_not_the_one_the_model_named(fake_bot):
    verifier = Verifier(fake_bot.verifier.embed_model, 0.5)
    lede = "By seeking a larger role in Afghanistan, the Kremlin is playing with fire."
    body = "The Kremlin has recently been courting the Taliban, a movement battling for control of Afghanistan."
    passages = [passage(1, lede, start=0), passage(2, body, start=500)]
    spans = verifier.support(AnswerSentence("The Kremlin is courting the Taliban, which is battling for control of Afghanistan.", (1,)), passages)
    assert spans is not None and [s.n for s in spans] == [2]


def test_a_range_is_one_fact_and_backs_its_ends():
    control = "The Taliban controls 10–15% of Afghan territory."
    assert missing_facts("The Taliban controls 10–15% of the country.", control) == []
    assert missing_facts("The Taliban controls 15% of the country.", control) == []
    assert missing_facts("The Taliban controls 15–15% of the country.", control) == ["15-15"]


@pytest.mark.parametrize(
    "question, sentences, expected",
    [
        ("Who is the current leader of the Taliban?", ["The Taliban currently controls 10–15% of Afghan territory."], False),
        ("Who is Russia's special envoy for Afghanistan?", ["Kabulov is Russia's special envoy."], True),
        ("How long is the Turkmen–Afghan border?", ["The Turkmen border is a route for drugs."], False),
        ("How many Tajik border guards are on patrol?", ["16,000 Tajik border guards are on patrol."], True),
        ("How many guards patrolled in 2016?", ["Guards patrolled in 2016."], False),
        ("Why is Moscow courting the Taliban?", ["The Taliban are a counterbalance to IS."], True),
        # The number must come from a paragraph about what the question names, not a neighbour's.
        ("How long is the Turkmen–Afghan border?", ["The Turkmen–Afghan border is 1344 km long."], False),
        ("How long is the border between Tajikistan and Afghanistan?", ["It is 1344 km long."], True),
        ("How many Tajik guards patrol the frontier today?", ["16,000 Tajik guards are on patrol."], True),
        # An amount may be written in words.
        ("How long had he been envoy in 2016?", ["He had been envoy for less than a year."], True),
        ("How many guards patrolled in 2016?", ["Some three hundred guards patrolled."], True),
        ("How long is one shift?", ["One shift is long."], False),
        # "In what year" needs a year, "which century" may be an ordinal; a plain "when" needs neither.
        ("In what year did the Tajik guards take over?", ["The Tajik guards took over from the Russians."], False),
        ("In what year did the Tajik guards take over?", ["The Tajik guards took over in 2005."], True),
        ("In which century was the Tajik–Afghan border drawn?", ["The Tajik–Afghan border was drawn in the nineteenth century."], True),
        ("When did the Tajik guards take over?", ["The Tajik guards took over after the Soviet collapse."], True),
    ],
)
def test_an_answer_must_give_what_the_question_asks_for(question, sentences, expected):
    front_matter = "A Dangerous Flirtation: Russia and the Taliban. By seeking a larger role in Afghanistan, the Kremlin is playing with fire."
    paragraphs = [
        "Afghanistan supplies 90 percent of heroin on the world market, via the Tajik, Turkmen and Uzbek borders.",
        "In Soviet times, the 1344-km Tajik–Afghan border was secured by approximately 25,000 border guards. "
        "Currently, the number of Tajik border guards on patrol is 16,000.",
        "Moscow's special envoy, Zamir Kabulov, said so.",
        "The Tajik guards took over the border from the Russians in 2005.",
    ]
    assert answers_question(question, sentences, front_matter, paragraphs, " ".join(paragraphs)) is expected


@pytest.mark.parametrize(
    ("question", "sentence", "expected"),
    [
        ("Which US commander ordered the GBU-43 strike?", 'The US military dropped a GBU-43, "the Mother Of All Bombs," on IS.', False),
        ("Which US commander ordered the strike?", "Stability in Afghanistan looks like a remote prospect.", False),
        ("Which US commander ordered the strike?", "General Nicholson ordered the strike.", True),
        ("Who ordered the strike?", "Nicholson ordered the strike.", True),
        # A first word the briefing never names may be "Today" as well as someone made up.
        ("Who ordered the strike?", "Smith ordered the strike.", False),
        ("Which provinces registered more opium?", "Badakhshan and Balkh did.", True),
        # A person is asked for: an acronym names a group, though a group may answer a plain "who".
        ("Which US commander ordered the strike?", "The strike hit IS positions, NATO said.", False),
        ("Who ordered the strike?", "NATO ordered the strike.", True),
        # "general" here is no military rank: a "what is the general term" question wants a term.
        ("What is the general term for the bomb?", 'It is "the Mother Of All Bombs".', True),
    ],
)
def test_a_person_question_needs_a_name_not_a_quoted_term_or_a_capitalised_first_word(question, sentence, expected):
    source = "There are threats to Kyrgyz stability. The US dropped the bomb on IS positions, said General Nicholson."
    assert answers_question(question, [sentence], "Russia, the Taliban and the Islamic State (IS) in Afghanistan", [source], source) is expected


TALKS = "No peace talks were possible while US and allied troops remained in Afghanistan, the Taliban representatives claimed."


def test_a_dropped_or_added_negation_never_follows_whatever_the_model_says():
    always_yes = Verifier(None, 0.5, entail=lambda claim, quote: 9.0)
    flipped = "The Taliban representatives claimed that peace talks were possible while US and allied troops remained in Afghanistan."
    assert always_yes.follows(flipped, TALKS) == ("no", None)
    assert always_yes.follows("The council did not approve the bridge.", "The council approved the bridge.") == ("no", None)
    # A truncated copy that cuts off the "No" is no copy.
    assert always_yes.follows("peace talks were possible while US and allied troops remained in Afghanistan", TALKS) == ("no", None)


def test_a_copy_of_the_quote_needs_no_model_and_a_paraphrase_needs_its_yes():
    never_asked = Verifier(None, 0.5, entail=lambda claim, quote: pytest.fail("a copy is not sent to the model"), entail_threshold=1.5)
    assert never_asked.follows(TALKS, TALKS) == ("copy", None)
    assert never_asked.follows("When he arrived, Abercrombie refused to act.", "When he arrived, Abercrombie refused to act.") == ("copy", None)
    assert never_asked.follows("Abercrombie refused to act.", "When he arrived, Abercrombie refused to act.") == ("copy", None)
    margins = {"sure": 3.0, "unsure": 1.0}
    verifier = Verifier(None, 0.5, entail=lambda claim, quote: margins[claim.split()[0]], entail_threshold=1.5)
    assert verifier.follows("sure there could be no talks with troops there", TALKS) == ("entailed", 3.0)
    assert verifier.follows("unsure there could be no talks with troops there", TALKS) == ("no", 1.0)
    assert Verifier(None, 0.5).follows("There could be no talks with troops there.", TALKS) == ("no", None)  # no judge: no paraphrase
    off = Verifier(None, 0.5, entail=lambda claim, quote: pytest.fail("paraphrases are off by default"))
    assert off.follows("sure there could be no talks with troops there", TALKS) == ("no", None)


def test_a_quote_is_denied_for_a_claim_the_model_says_it_does_not_state():
    margins = {"sure": 3.0, "unsure": 1.0, "false": -1.0}
    verifier = Verifier(None, 0.5, entail=lambda claim, quote: margins[claim.split()[0]], entail_threshold=None, quote_threshold=0.0)
    assert verifier.follows("sure there could be no talks with troops there", TALKS) == ("no", 3.0)  # quoted: no paraphrases
    assert verifier.follows("false there could be no talks with troops there", TALKS) == ("denied", -1.0)
    # A flipped negation is never left to the model: its quote says what the claim got backwards.
    never_asked = Verifier(None, 0.5, entail=lambda claim, quote: pytest.fail("a negation mismatch is not asked"), quote_threshold=0.0)
    assert never_asked.follows("peace talks were possible while US and allied troops remained in Afghanistan", TALKS) == ("no", None)


@pytest.mark.parametrize(
    "claim, quote",
    [
        # Cut inside a clause: the qualifier before the copied words is lost.
        ("50,000 Huguenots fled to England.", "Before 1708, an estimated 50,000 Huguenots fled to England."),
        # Cut inside a clause: the condition after them is lost.
        ("Abercrombie refused to take any significant actions.", "Abercrombie refused to take any significant actions until Loudoun approved them."),
        # Whole clauses, but the one left out says who claims it or on what condition.
        ("No peace talks were possible while US and allied troops remained in Afghanistan.", TALKS),
        ("The committee approved the plan.", "According to the minutes, the committee approved the plan."),
        ("The bridge will close in May.", "The bridge will close in May, if the council agrees."),
        ("The base is being readied.", "By all accounts, the base is being readied."),
    ],
)
def test_a_copy_that_leaves_out_a_qualifier_is_no_copy(claim, quote):
    assert not is_copy(claim, quote)


def test_a_copy_may_leave_out_a_whole_clause_that_does_not_qualify_it():
    quote = "Before 1708, an estimated 50,000 Huguenots fled to England, with many moving on to Ireland."
    assert is_copy("An estimated 50,000 Huguenots fled to England.", quote)
    assert is_copy("Before 1708, an estimated 50,000 Huguenots fled to England.", quote)
    assert not is_copy("Huguenots fled to England.", quote)


@pytest.mark.parametrize(
    "name, text, found",
    [("Iran", "Iraq and Syria", False), ("Oman", "the economic plan", False), ("Austria", "Australia", False),
     ("IS", "this is it", False), ("IS", "the Islamic State (IS)", True), ("Russian", "Russia's army", True),
     ("Chinese", "China", True), ("Tajikistan", "the Tajik–Afghan border", True), ("Al-Qaeda", "al Qaeda cells", True),
     ("Phags-pa", "the 'Phags-pa script", True), ("Moscow", "talks in 'Moscow'", True), ("A", "grade 'A'", True),
     ("DATANET", "Strictly speaking Datanet 1 only", True), ("NATO", "Nato's summit", True), ("IS", "Is it over?", False),
     ("Temur", "a banquet with Tugh Temür", True), ("Temür", "Tugh Temur", True), ("Muller", "Müller's law", True),
     ("Boleslaw", "Bolesław I the Brave", True), ("Soren", "Søren Kierkegaard", True)],
)
def test_names_match_as_words_not_inside_other_words(name, text, found):
    assert fact_in(name, text) is found


def test_a_first_word_is_a_name_when_the_source_capitalises_it_mid_sentence_more_than_it_writes_it_lower():
    source = "Isaac Newton wrote the laws. Newton's laws hold. A force of one newton, said Newton."
    assert names("Newton identified gravity as a force.", source) == {"Newton"}
    assert names("Currently, the number is 16,000.", "It is currently 16,000.") == set()
    assert names("Did Davies publish it?", "Davies did it.") == {"Davies"}


@pytest.mark.parametrize(
    ("question", "context", "missing"),
    [
        ("When did the Danish fleet sail?", "The Dutch fleet sailed in 1652.", "Danish"),
        ("What year did Anna Berg publish a study?", "A study was published in 1961.", "Anna Berg"),
        # Each word of a name must stand: a swapped word makes another name.
        ("What did the Berg National Museum show?", "The Kern National Museum showed maps.", "Berg National Museum"),
        ("What did the Ministry of Defence say?", "Defence cuts, the Ministry said, were over.", None),
        # An acronym stands where its words do.
        ("What did the EU decide?", "The European Union decided to wait.", None),
        ("What did the NSF fund?", "The National Science Foundation funded it.", None),
        ("When did the UK join?", "Ukraine joined in 1992.", "UK"),
        # A capitalised first word the text writes in lower case is no name, nor is a preposition or a
        # question word ("Whose" before a name).
        ("Currently, who leads it?", "It is currently led by Kern.", None),
        ("Whose First Law of Motion says that objects move?", "Newton's First Law of Motion says so.", None),
        ("Besides England, which country sent troops?", "England and France sent troops.", None),
        # A title is no name: the person is named without it.
        ("What did Mr Kern sell?", "Kern sold maps.", None),
        ("Why did Dr Anna Berg resign?", "Anna Berg resigned over pay.", None),
        ("What did Mrs Kern sell?", "Berg sold maps.", "Kern"),
    ],
)
def test_unnamed_in_finds_a_name_of_the_question_the_context_never_names(question, context, missing):
    assert unnamed_in(question, [context], context) == missing


@pytest.mark.parametrize(
    "question, quotes, changed",
    [
        # One word in place of another between words the quote has: a look-alike, or a synonym.
        ("Specific relativity offers an equivalence between what?", "General relativity offers an equivalence between space-time and mass.", ("specific", "general")),
        ("What is the softest problem in C?", "A problem is C-complete if it is the hardest problem in C.", ("softest", "hardest")),
        ("How is the time needed to obtain the solution calculated?", "The time required to obtain the solution is calculated so.", ("needed", "required")),
        # The closest sentence of several is read.
        ("Which museum's southern gate was rebuilt in 1820?", "The museum opened in 1890. The museum's northern gate was rebuilt in 1820.", ("southern", "northern")),
        # Only one matched word on either side (the question's word order is not the quote's): no rewrite.
        ("When was the southern gate rebuilt?", "The northern gate was rebuilt in 1820.", None),
        # A short word is not another form of a stopword ("old" and "of").
        ("Who was Old France's governor?", "The Governor-General of New France died. It was noticed by New France's governor.", ("Old", "New")),
        # Nor is a word another quoted sentence has.
        ("Who was Shi Tianze's father?", "His father was Shi Bingzhi. It is unknown who was Shi Tianze's mother.", None),
        # Another form or a misspelling of the word is no change, nor is a changed stopword or number.
        ("When did Warsaw gain the title?", "Warsaw gained the title in 1945.", None),
        ("In what way do strings transmit tesion forces?", "Strings transmit tension forces along their length.", None),
        ("What happened to the city in 1946?", "What happened to the city in 1945 was war.", None),
        ("What was built within the walls?", "What was built in the walls was a church.", None),
        # "Connected" is not another form of "unconnected".
        ("How were connected networks joined?", "How were unconnected networks joined was unclear.", ("connected", "unconnected")),
        # A paraphrase of several words is not one changed word.
        ("What task lends itself to being solved by a computer?", "A problem is a task that is amenable to being solved by a computer.", None),
        # Where more words differ, a name next to the shared words in place of another name.
        ("How were TRANSPAC and TYMNET modified?", "Older networks such as TELENET and TYMNET were modified.", ("TRANSPAC", "TELENET")),
        ("Which body did the EU set up in 1958?", "The court the European Union set up in 1958 was new.", None),
        ("Who argued that the power had become imperialist?", "Mao argued that the power had become imperialist.", None),
        # With one matched word on either side only, the rest of the question differs: no rewrite.
        ("Who won the major cup?", "The rivals won the minor league title.", None),
    ],
)
def test_reworded_finds_the_one_word_a_question_changes_in_a_quote(question, quotes, changed):
    found = reworded(question, quotes)
    assert (found and (found.word, found.replacement)) == changed or (found is None and changed is None)
    if found:
        assert isinstance(found, Rewording) and found.sentence in quotes


@pytest.mark.parametrize(
    "question, quotes, found",
    [
        # "non" before words the quote states: the question asks about their opposite.
        ("What has Islamism been tied to since the non-Arab Spring?", "Following the Arab Spring, Islamism grew.", ("non Arab Spring", "Arab Spring")),
        ("How were non-local area networks established?", "Local area networks were established ad hoc.", ("non local area", "local area")),
        # A "not" between words of the closest sentence, in its order.
        ("What is not strictly contained in EXPTIME?", "PSPACE is strictly contained in EXPTIME.", ("not strictly contained in EXPTIME", "strictly contained in EXPTIME")),
        # An inverted question's "not" stands before its subject, not inside the quote's words.
        ("Why haven't the border guards faced major clashes?", "The border guards have avoided major clashes.", None),
        # The quote denies it too, or says "non" itself in another sentence.
        ("What is not strictly contained in EXPTIME?", "PSPACE is not strictly contained in EXPTIME.", None),
        ("What does a non-deterministic Turing machine do?", "A deterministic Turing machine halts. A non-deterministic Turing machine branches.", None),
        ("What is not a binary string?", "A binary string is a sequence of bits.", None),
        # A question without the negation the quote puts before words it repeats.
        ("What algorithm is always practical?", "Such an algorithm is not always practical.", ("always practical", "not always practical")),
        # A yes/no question is answered by the denial; a question that keeps the negation asks what the quote says.
        ("Is the algorithm always practical?", "Such an algorithm is not always practical.", None),
        ("In 1972, did Norway end up joining?", "In 1972, Norway did not end up joining.", None),
        ("Which algorithm is not always practical?", "Such an algorithm is not always practical.", None),
    ],
)
def test_flipped_negation_finds_a_negation_the_question_adds_or_drops(question, quotes, found):
    negation = flipped_negation(question, quotes)
    assert (negation and (negation.word, negation.replacement)) == found or (negation is None and found is None)
    if negation:
        assert negation.sentence in quotes


@pytest.mark.parametrize(
    "one, other, opposite",
    [("understandings", "misunderstandings", True), ("Unsolved", "solved", True), ("consistent", "inconsistent", True),
     ("solved", "resolved", False), ("famous", "famously", False)],
)
def test_opposites_are_a_word_and_the_word_with_a_negating_prefix(one, other, opposite):
    assert opposites(one, other) is opposite


@pytest.mark.parametrize(
    "question, quotes, negated",
    [
        ("What is not a binary string?", "A binary string is a sequence of bits.", True),
        ("How were non-local area networks established?", "Local area networks were established ad hoc.", True),
        ("What didn't Newton's mechanics affect?", "Newton's mechanics affected all later physics.", True),
        ("What is not a binary string?", "Not every string is binary.", False),
        ("What field asks whether or not problems are solvable?", "Complexity theory asks which problems are solvable.", False),
        ("What is a binary string?", "A binary string is not a number.", False),
    ],
)
def test_asks_negated_is_a_question_about_what_is_not_so_of_quotes_that_deny_nothing(question, quotes, negated):
    assert asks_negated(question, quotes) is negated
