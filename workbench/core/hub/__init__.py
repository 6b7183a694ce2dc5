"""The Hugging Face Hub: list a repository, preview its safetensors headers, download a snapshot.

Qt-free; every call goes through huggingface_hub into the standard cache and fails with a
`HubError` (gated, private, missing, offline) that says what to do.
"""
