"""Chat requests into the exact prompt text the model continues, as the local backend renders it.

A plain request goes through :func:`~reason4rec.experts.prompts.render_chat`, the function the
local backend, training and evaluation all use. vLLM's two chat extensions are honoured the way
vLLM applies them: ``add_generation_prompt=false`` renders the turns only, and
``continue_final_message=true`` leaves the last (assistant) turn open so the model continues it --
how the Predictor is asked for the token after ``Predicted Rating:``.

Example:
    >>> render_messages(tokenizer, [{"role": "user", "content": "hi"},
    ...                             {"role": "assistant", "content": "Predicted Rating:"}],
    ...                 add_generation_prompt=False, continue_final_message=True)  # doctest: +SKIP
    '<|im_start|>user\\nhi<|im_end|>\\n<|im_start|>assistant\\nPredicted Rating:'
"""

from __future__ import annotations

from typing import Any

from ..experts import Messages, answer_opening, render_chat
from .errors import ApiError


def render_messages(tokenizer: Any, messages: Messages, *, add_generation_prompt: bool = True,
                    continue_final_message: bool = False) -> str:
    """The prompt text for a chat request.

    Raises:
        ApiError: 400 for an impossible combination or a conversation the template refuses.
    """
    if continue_final_message and add_generation_prompt:
        raise ApiError(400, "continue_final_message and add_generation_prompt cannot both be true",
                       param="continue_final_message")
    if continue_final_message and messages[-1]["role"] != "assistant":
        raise ApiError(400, "continue_final_message needs an assistant message last",
                       param="continue_final_message")
    begun = bool(answer_opening(messages))
    try:
        if continue_final_message or (add_generation_prompt and not begun):
            return render_chat(tokenizer, messages)  # the local backend's own rendering (an answer begun: open)
        if not tokenizer.chat_template:  # render_chat's fallback: turns joined by blank lines
            return "\n\n".join(m["content"] for m in messages) + "\n\n"
        # the last (assistant) turn closed, as vLLM renders it without continue_final_message
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    except Exception as err:  # jinja's TemplateError, transformers' ValueError
        raise ApiError(400, f"the chat template cannot render these messages: {err}",
                       param="messages") from err
