"""The training tasks: one TaskInfo per task, the single owner of what a task means.

Every layer asks this registry: the model loader (which Auto class builds the head), LoRA (which
peft task type), the data pipeline (which TrainSpec column fields it reads, whether labels are
class names), evaluation and the summary (which metrics, perplexity or accuracy/F1) and the
"try it" box (what to type). Pure data: importing it costs neither torch nor transformers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from workbench.core.errors import WorkbenchError


class Task(StrEnum):
    """What a fine-tuning run trains the model for (the values are the spec file's names)."""

    SEQUENCE_CLASSIFICATION = "sequence-classification"
    TOKEN_CLASSIFICATION = "token-classification"
    CAUSAL_LM = "causal-lm"
    MASKED_LM = "masked-lm"
    SEQ2SEQ = "seq2seq"
    QUESTION_ANSWERING = "question-answering"
    CHAT_SFT = "chat-sft"


@dataclass(frozen=True)
class TaskInfo:
    """Everything the app knows about one task."""

    task: Task
    title: str
    auto_class: str  # the transformers Auto class that builds the model with this task's head
    peft_task_type: str | None  # peft.TaskType name; None = peft's generic wrapper
    columns: tuple[str, ...]  # TrainSpec fields naming the data columns the task reads
    metrics: tuple[str, ...]  # evaluation metrics it reports, in display order
    try_hint: str  # placeholder of the "try it" box
    # the batch keys Trainer treats as labels (question answering: the answer's token span)
    label_names: tuple[str, ...] = ("labels",)
    trainer: str = "transformers"  # "transformers" (Trainer) or "trl-sft" (TRL's SFTTrainer)

    @property
    def classifies(self) -> bool:
        """True when the label column holds class names (a head sized from the labels)."""
        return "label_column" in self.columns

    @property
    def reports_perplexity(self) -> bool:
        """True for language-model tasks, whose eval loss is a token cross-entropy."""
        return "perplexity" in self.metrics

    @property
    def chats(self) -> bool:
        """True when the model generates text (a causal LM): its try-it box is a chat."""
        return self.auto_class == "AutoModelForCausalLM"


_CLASSIFICATION_METRICS = ("eval_loss", "eval_accuracy", "eval_f1")
_LM_METRICS = ("eval_loss", "perplexity")

TASKS: dict[Task, TaskInfo] = {info.task: info for info in (
    TaskInfo(Task.SEQUENCE_CLASSIFICATION, "Sequence classification",
             "AutoModelForSequenceClassification", "SEQ_CLS",
             ("text_column", "text_pair_column", "label_column"), _CLASSIFICATION_METRICS,
             "Type a sentence to classify"),
    TaskInfo(Task.TOKEN_CLASSIFICATION, "Token classification",
             "AutoModelForTokenClassification", "TOKEN_CLS",
             ("text_column", "label_column"), _CLASSIFICATION_METRICS,
             "Type a sentence to tag"),
    TaskInfo(Task.CAUSAL_LM, "Causal language modelling", "AutoModelForCausalLM", "CAUSAL_LM",
             ("text_column",), _LM_METRICS, "Type the start of a text to continue"),
    # peft has no masked-LM task type; its generic PeftModel wraps such models.
    TaskInfo(Task.MASKED_LM, "Masked language modelling", "AutoModelForMaskedLM", None,
             ("text_column",), _LM_METRICS, "Type text with [MASK] (or <mask>) to fill"),
    TaskInfo(Task.SEQ2SEQ, "Sequence to sequence", "AutoModelForSeq2SeqLM", "SEQ_2_SEQ_LM",
             ("text_column", "target_column"), _LM_METRICS, "Type an input text to transform"),
    # SQuAD-style extractive QA; the model is scored by exact match and F1 (core/training/
    # squad_metric.py) on answers mapped back to the context (core/training/qa_answers.py).
    TaskInfo(Task.QUESTION_ANSWERING, "Extractive question answering",
             "AutoModelForQuestionAnswering", "QUESTION_ANS",
             ("question_column", "context_column", "answers_column"),
             ("eval_loss", "eval_exact_match", "eval_f1"),
             "Type a question, and the passage that holds its answer",
             label_names=("start_positions", "end_positions")),
    # Columns are detected from the data (core/training/chat_data.py), not named in the spec.
    TaskInfo(Task.CHAT_SFT, "Chat / instruction fine-tuning", "AutoModelForCausalLM",
             "CAUSAL_LM", (), _LM_METRICS, "Type a message to the assistant", trainer="trl-sft"),
)}


def task_info(task: str) -> TaskInfo:
    """The TaskInfo of `task` (a Task or its name), or a WorkbenchError listing the tasks."""
    try:
        return TASKS[Task(task)]
    except ValueError:
        raise WorkbenchError(f"Unknown task '{task}'; choose one of "
                             f"{', '.join(t.value for t in Task)}.") from None


def auto_model_class(task: str) -> Any:
    """The transformers Auto class for `task` (imports transformers)."""
    import transformers

    return getattr(transformers, task_info(task).auto_class)
