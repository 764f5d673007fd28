"""The templates' environment: Flask's, with each `{{ … }}` written out as an escaped plain string, and calls to
plain functions and macros made without Jinja's checks for what they want passed.

Jinja writes an autoescaped `{{ value }}` as `markupsafe.escape(value)`, which wraps every piece in a new `Markup`
(two Python calls, ~0.35 µs) only for the pieces to be joined into one `str` at once. A page of 50 licenses writes
~1,600 of them. Here the compiled templates call `escape_output`, which escapes exactly as `markupsafe.escape` does
(the same C function; `__html__` honoured) and returns the `str`. Where a render's pieces are kept (macros, `{% set
%}` blocks, `caller()`), Jinja joins them and marks the result safe as before, so nothing else changes.

Every call in a template (`detail_url(id)`, a macro, `_()`) goes through `Context.call`, which asks the callable and
its `__call__` whether it wants the context, the evaluation context or the environment passed (two failed attribute
lookups, each an exception inside Python) — ~340 calls on that page. A plain function without that mark, a builtin
(`dict.get`) or a macro wants none of them: `PortalContext.call` calls those at once, anything else as Jinja does.
"""

from types import BuiltinFunctionType, FunctionType
from typing import Any

import markupsafe
from flask.templating import Environment
from jinja2.compiler import CodeGenerator
from jinja2.runtime import Context, Macro

# markupsafe's own escaping function (its C speedup, or its pure-Python fallback), as `markupsafe.escape` calls it.
# Not public: tests/shared/test_templating.py compares escape_output with markupsafe.escape, so a markupsafe
# upgrade that moves it fails there, not on a page.
_escape_inner = markupsafe._escape_inner


def escape_output(value: Any) -> str:
    """`str(markupsafe.escape(value))`, without making the `Markup`."""
    if type(value) is str:
        return _escape_inner(value)
    if hasattr(value, "__html__"):
        return value.__html__()
    return _escape_inner(str(value))


class _CodeGenerator(CodeGenerator):
    def visit_Template(self, node, frame=None) -> None:
        self.writeline("from portal.shared.templating import escape_output as _escape_output")
        super().visit_Template(node, frame)

    def _output_child_pre(self, node, frame, finalize) -> None:
        # Inside `{% autoescape %}` blocks (volatile) Jinja decides at run time; keep its code there.
        if frame.eval_ctx.volatile or not frame.eval_ctx.autoescape:
            super()._output_child_pre(node, frame, finalize)
            return
        self.write("_escape_output(")
        if finalize.src is not None:
            self.write(finalize.src)


_PASS_MARK = "jinja_pass_arg"  # noqa: S105 - an attribute name; set by jinja2.pass_context / pass_eval_context / pass_environment


class PortalContext(Context):
    def call(__self, __obj, *args, **kwargs):  # noqa: N805 - Jinja's own signature (a keyword may be "self")
        kind = type(__obj)
        if kind is Macro or kind is BuiltinFunctionType or (kind is FunctionType and _PASS_MARK not in __obj.__dict__):
            if kwargs:
                kwargs.pop("_block_vars", None)
                kwargs.pop("_loop_vars", None)
            try:
                return __obj(*args, **kwargs)
            except StopIteration:  # as Jinja answers it
                return __self.environment.undefined(
                    "value was undefined because a callable raised a StopIteration exception")
        return super().call(__obj, *args, **kwargs)


class PortalEnvironment(Environment):
    code_generator_class = _CodeGenerator
    context_class = PortalContext
