"""An ONNX export loaded the way a user would: onnxruntime InferenceSessions on the CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from workbench.core.export.onnx_graphs import DECODER_FILE, ENCODER_FILE, MODEL_FILE


class OrtModel:
    """model.onnx, or encoder_model.onnx + decoder_model.onnx, run through onnxruntime."""

    def __init__(self, folder: str | Path) -> None:
        import onnxruntime as ort

        self.folder = Path(folder)
        self.seq2seq = (self.folder / ENCODER_FILE).is_file()
        files = (ENCODER_FILE, DECODER_FILE) if self.seq2seq else (MODEL_FILE,)
        self.sessions = {f: ort.InferenceSession(str(self.folder / f),
                                                 providers=["CPUExecutionProvider"])
                         for f in files}

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """float32 logits (or hidden states) on a probe; seq2seq: teacher-forced decoder."""
        if not self.seq2seq:
            session = self.sessions[MODEL_FILE]
            feed = {i.name: batch[i.name] for i in session.get_inputs()}
            return session.run(None, feed)[0].astype(np.float32)
        hidden = self._encode(batch)
        return self._decode(batch["decoder_input_ids"], hidden, batch["attention_mask"])

    def greedy(self, batch: dict[str, np.ndarray], steps: int, start: int, eos: int | None,
               pad: int | None) -> np.ndarray:
        """Greedy decoding token by token (the decoder re-reads the prefix: no KV cache).

        Like transformers' greedy search: rows that produced `eos` continue with `pad`, and
        decoding stops early once every row has.
        """
        hidden = self._encode(batch)
        mask = batch["attention_mask"]
        tokens = np.full((mask.shape[0], 1), start, dtype=np.int64)  # (B, 1)
        done = np.zeros(mask.shape[0], dtype=bool)
        for _ in range(steps):
            nxt = self._decode(tokens, hidden, mask)[:, -1].argmax(-1)  # (B,)
            if pad is not None:
                nxt = np.where(done, pad, nxt)
            tokens = np.concatenate([tokens, nxt[:, None].astype(np.int64)], axis=1)
            if eos is not None:
                done |= nxt == eos
                if done.all():
                    break
        return tokens

    def layout(self) -> dict[str, Any]:
        """Each file's inputs and outputs as the sessions see them (symbolic axes as names)."""
        def describe(nodes) -> dict[str, Any]:
            return {n.name: {"shape": [d if isinstance(d, (int, str)) else None
                                       for d in n.shape], "type": n.type} for n in nodes}

        files = {f: {"inputs": describe(s.get_inputs()), "outputs": describe(s.get_outputs())}
                 for f, s in self.sessions.items()}
        return {"files": files, "kv_cache": False if self.seq2seq else None,
                "note": ("Encoder and decoder graphs (optimum's layout) without past key values: "
                         "at each generation step the decoder reads the whole prefix.")
                if self.seq2seq else None}

    def _encode(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self.sessions[ENCODER_FILE].run(None, {
            "input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]})[0]

    def _decode(self, ids: np.ndarray, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.sessions[DECODER_FILE].run(None, {
            "input_ids": ids, "encoder_hidden_states": hidden,
            "encoder_attention_mask": mask})[0].astype(np.float32)
