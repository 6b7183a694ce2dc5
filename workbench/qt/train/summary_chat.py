"""The run summary's chat: the base model and the fine-tuned model side by side, for tasks
that generate text (TaskInfo.chats), instead of the single-line try box."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def chat_backends(result: Any, spec: Any) -> list[Any]:
    """LocalChat backends for the base model and the run's final model.

    Both use the run's tokenizer when it saved one: a chat-sft run saves the chat template it
    trained with, so the base model is asked in exactly the same format."""
    from workbench.core.chat.local import LocalChat

    final = Path(result.final_model_dir)
    tokenizer = final if (final / "tokenizer_config.json").is_file() else None
    base_name = Path(str(spec.model_path)).name or str(spec.model_path)
    device = getattr(spec, "device", "cpu")  # where the run trained
    return [LocalChat(spec.model_path, title=f"Base model ({base_name})",
                      tokenizer_dir=tokenizer, device=device),
            LocalChat(final, title="Fine-tuned (this run)", tokenizer_dir=tokenizer,
                      device=device)]
