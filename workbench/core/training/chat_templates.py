"""Chat templates for chat fine-tuning: the checkpoint's own, or a standard one by name.

The standard templates carry `{% generation %}` markers around what the assistant writes (its
text and its end-of-turn marker), so transformers' `return_assistant_tokens_mask` gives the
loss mask directly. Each renders plain text on any vocabulary: a base model whose tokenizer
lacks the marker tokens sees them as ordinary pieces (no embedding resize, nothing to merge).
Pure data and string checks: importing this costs neither torch nor transformers.
"""

from __future__ import annotations

import re
from typing import Any

from workbench.core.errors import TrainingDataError

# "" in TrainSpec.chat_template: the checkpoint's own template, or ChatML when it has none.
OWN = ""
DEFAULT_STANDARD = "chatml"

STANDARD_TEMPLATES: dict[str, str] = {
    # OpenAI's ChatML, as used by Qwen, SmolLM, Hermes and many others.
    "chatml": (
        "{%- for message in messages %}"
        "{%- if message['role'] == 'assistant' %}"
        "{{- '<|im_start|>assistant\\n' }}"
        "{%- generation %}{{- message['content'] + '<|im_end|>' }}{%- endgeneration %}"
        "{{- '\\n' }}"
        "{%- else %}"
        "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
        "{%- endif %}"
        "{%- endfor %}"
        "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
    ),
    # Zephyr / TinyLlama-chat: role tags, each turn closed by the tokenizer's EOS token.
    "zephyr": (
        "{%- for message in messages %}"
        "{%- if message['role'] == 'assistant' %}"
        "{{- '<|assistant|>\\n' }}"
        "{%- generation %}{{- message['content'] + eos_token }}{%- endgeneration %}"
        "{{- '\\n' }}"
        "{%- else %}"
        "{{- '<|' + message['role'] + '|>\\n' + message['content'] + eos_token + '\\n' }}"
        "{%- endif %}"
        "{%- endfor %}"
        "{%- if add_generation_prompt %}{{- '<|assistant|>\\n' }}{%- endif %}"
    ),
    # Alpaca-style headings: readable by any base model, the answer ends with EOS.
    "plain": (
        "{%- for message in messages %}"
        "{%- if message['role'] == 'assistant' %}"
        "{{- '### Assistant:\\n' }}"
        "{%- generation %}{{- message['content'] + eos_token }}{%- endgeneration %}"
        "{{- '\\n\\n' }}"
        "{%- else %}"
        "{{- '### ' + message['role'] | capitalize + ':\\n' + message['content'] + '\\n\\n' }}"
        "{%- endif %}"
        "{%- endfor %}"
        "{%- if add_generation_prompt %}{{- '### Assistant:\\n' }}{%- endif %}"
    ),
}

# Text that ends an assistant turn in each standard template besides the EOS token (generation
# stops there too).
STOP_STRINGS = {"chatml": ["<|im_end|>"], "zephyr": [], "plain": ["### User:"]}


def template_names() -> list[str]:
    """The standard template names (TrainSpec.chat_template's values besides "")."""
    return list(STANDARD_TEMPLATES)


def has_generation_markers(template: str) -> bool:
    """True when the template marks the assistant's output with {% generation %} blocks."""
    return re.search(r"\{%-?\s*generation\s*-?%\}", template or "") is not None


def own_template(tokenizer: Any) -> str | None:
    """The tokenizer's own chat template (the 'default' one of named variants), or None."""
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):
        template = template.get("default") or next(iter(template.values()), None)
    return template or None


def resolve_template(tokenizer: Any, choice: str) -> tuple[str, str]:
    """(template text, how to name it) for TrainSpec.chat_template `choice` on `tokenizer`."""
    if choice == OWN:
        own = own_template(tokenizer)
        if own is not None:
            return own, "the model's own chat template"
        return (STANDARD_TEMPLATES[DEFAULT_STANDARD],
                f"the {DEFAULT_STANDARD} template (the model has no chat template of its own)")
    if choice not in STANDARD_TEMPLATES:
        raise TrainingDataError(
            f"Unknown chat template '{choice}'. Leave chat_template empty for the model's own, "
            f"or choose one of {', '.join(STANDARD_TEMPLATES)}.")
    return STANDARD_TEMPLATES[choice], f"the {choice} template"


def stop_strings(template: str) -> list[str]:
    """Strings after which generation with `template` should stop (besides EOS)."""
    for name, text in STANDARD_TEMPLATES.items():
        if text == template:
            return list(STOP_STRINGS[name])
    return ["<|im_end|>"] if "<|im_end|>" in template else []
