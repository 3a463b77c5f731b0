"""Meta-prompts of the text-to-image tasks: what the vision chat model reads. Constants only, filled by
prompts/slots.py (plain replacement of <<SLOT>> markers) and rendered by prompts/t2i_messages.py.

The critic (Liu et al., CVPR 2024, section on text-to-image) sees the images made from its prompts, with a
score and a critique of each, and writes better prompts in one conversation. The scorers decompose a text
into atomic yes/no questions in the manner of the Davidsonian Scene Graph (Cho et al., ICLR 2024), answer
them on an image, or rate an image 1-5.
"""

# --- the critic: system prompts per phase -----------------------------------------------------------------

REPLY_FORMAT = """Reply with a JSON object and nothing else: {"feedback": "what the images get wrong and how \
your prompts fix it", "prompts": ["...", "..."]}."""

PROMPT_RULES = """Rules for every prompt you write: one paragraph of at most <<MAX_WORDS>> words, describing \
the image itself (not instructions to a person), new (never a prompt you have already seen)."""

SYSTEM_T2I = (
    """You are an expert at writing prompts for a text-to-image model. The user wants an image that \
faithfully shows:
"<<QUERY>>"
Text-to-image models often get counts, spatial relations and which attribute belongs to which object wrong. \
You will be shown images generated from prompts, each with its faithfulness score (higher is better) and a \
critique. Look at the images carefully, work out what the generator misunderstood, and write prompts that \
make it draw a faithful image: be explicit about every object, its count, colour and position.
"""
    + PROMPT_RULES
    + "\n"
    + REPLY_FORMAT
)

SYSTEM_INVERT = (
    """You are an expert at writing prompts for a text-to-image model. Your task is to find a \
prompt from which the model reproduces a reference image as closely as possible: the same subjects, counts, \
colours, layout, background and style. The reference image is shown first. You will then be shown images \
generated from prompts, each with its similarity score to the reference (higher is better) and a critique. \
Compare them with the reference carefully, and write prompts that bring the generated image closer to it.
"""
    + PROMPT_RULES
    + "\n"
    + REPLY_FORMAT
)

SYSTEM_EDIT = (
    """You are an expert at writing prompts for a text-to-image model. A reference image (shown \
first) shows a subject; the prompt "<<RECOVERED>>" reproduces it. Your task is to show the SAME subject, \
with every detail of its appearance kept, in a new situation:
"<<EDIT>>"
You will be shown images generated from prompts, each with a score (higher is better) that rewards both \
keeping the subject identical to the reference and showing the new situation, and a critique. Write \
prompts that do both.
"""
    + PROMPT_RULES
    + "\n"
    + REPLY_FORMAT
)

# --- the critic: user turns -------------------------------------------------------------------------------

REFERENCE_TURN = "This is the reference image."

DESCRIBE_REFERENCE = """Write <<N>> prompts from which the text-to-image model would reproduce the \
reference image."""

START_EDIT = """Write <<N>> prompts that show the subject of the reference image in the new situation, \
starting from the recovered prompt."""

CANDIDATE = """Prompt: "<<PROMPT>>"
Score: <<SCORE>>
Critique: <<CRITIQUE>>"""

IMAGE_NOTE = "(its image is attached: image <<K>> of this message)"
NO_IMAGE_NOTE = "(its image was shown earlier)"

FIRST_RESULTS = """Here are the first prompts and the images they gave:

<<RESULTS>>"""

LAST_RESULTS = """Your last prompts gave:

<<RESULTS>>"""

BEST_RESULTS = """The best prompts so far:

<<RESULTS>>"""

WORST_RESULTS = """The worst prompts so far:

<<RESULTS>>"""

ASK_BETTER = """Write <<N>> new prompts that score higher than the best one: keep what works in the good \
prompts, and fix what the critiques and the images show is wrong."""

NOTHING_USABLE = "(none of your last prompts could be used)"
NO_CRITIQUE = "(no critique: look at the image)"

REASK = """Your last reply could not be used: <<ERROR>>. Reply again with only a JSON object \
{"feedback": "...", "prompts": [...]} holding <<N>> new prompts."""

# --- question-based faithfulness (DSG) ------------------------------------------------------------------

DSG_DECOMPOSE_SYSTEM = """You turn a description of an image into atomic yes/no questions, in the manner of \
the Davidsonian Scene Graph. Each question checks exactly one thing that a faithful image must show:
- "entity": an object or subject exists ("Is there a cube?");
- "attribute": one property of one entity: colour, material, size, texture, style, state ("Is the cube red?");
- "count": how many of an entity ("Are there three cubes?");
- "relation": a spatial relation or an action between entities ("Is the cube on top of the sphere?");
- "global": the whole image: style, background, lighting ("Is it a watercolour painting?").
A question about an entity's attribute, count or relations depends on the questions that establish that \
the entity exists: list their ids in "parents". Cover every detail, do not invent any.
Reply with a JSON object and nothing else: {"questions": [{"id": 1, "question": "Is there a cube?", \
"category": "entity", "parents": []}, {"id": 2, "question": "Is the cube red?", "category": "attribute", \
"parents": [1]}]}."""

DSG_DECOMPOSE_TEXT = """Description: "<<TEXT>>"
Write its questions."""

DSG_DECOMPOSE_IMAGE = """The description is the image below: write the questions that an image must pass \
to reproduce it (its subjects, counts, colours, layout, background and style)."""

DSG_ANSWER_SYSTEM = """You answer yes/no questions about an image, judging only what is visible in it. \
Answer every question, independently of the others.
Reply with a JSON object and nothing else: {"answers": {"1": "yes", "2": "no"}}, one entry per question id."""

DSG_ANSWER_USER = """Questions:
<<QUESTIONS>>"""

DSG_REASK = """Your last reply could not be used: <<ERROR>>. Reply again with only the JSON object."""

# --- 1-5 rating ---------------------------------------------------------------------------------------

RATING_TEXT_SYSTEM = """You rate how faithfully an image shows a text, from 1 (unrelated) to 5 (every \
detail right: objects, counts, attributes and spatial relations).
Reply with a JSON object and nothing else: {"rating": 3, "reason": "one sentence: what is wrong or \
missing"}."""

RATING_TEXT_USER = """Text: "<<TEXT>>"
Rate the image below."""

RATING_IMAGE_SYSTEM = """You rate how closely a generated image reproduces a reference image, from 1 \
(unrelated) to 5 (the same subjects, counts, colours, layout, background and style).
Reply with a JSON object and nothing else: {"rating": 3, "reason": "one sentence: what differs"}."""

RATING_IMAGE_USER = """The first image is the reference, the second the generated image. Rate the second."""
