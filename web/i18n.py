"""Chinese first, English on request: the UI's strings come from Flask-Babel catalogues.

Templates and views say `t("nav.inbox")`; the text is in web/translations/<lang>/LC_MESSAGES/messages.po
(msgid = the key, msgstr = the text, `{name}` placeholders filled by t()). To add a string, add the key
to BOTH catalogues (zh and en); the app compiles a changed catalogue into messages.mo when it starts.
Messages that come from the engine are Chinese; those that carry a catalogue key (a `Message`, or a
`Problem` with `code`: form validation) are said in the session's language by `localized`/`problem_text`.
Names from the BPMN files stay as the process author wrote them.
"""

from __future__ import annotations

import os
from datetime import datetime
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from flask import Blueprint, Flask, has_app_context, has_request_context, redirect, request, session, url_for
from flask_babel import Babel, gettext

from engine.clock import COMPANY_TZ
from engine.errors import Message, Problem, stored_message
from engine.routing import ANY

LANG_KEY = "lang"
LANGS = ("zh", "en")
TRANSLATIONS = Path(__file__).parent / "translations"


def catalogues(folder: Path = TRANSLATIONS) -> dict[str, Path]:
    return {po.parents[1].name: po for po in sorted(folder.glob("*/LC_MESSAGES/messages.po"))}


def compile_catalogues(folder: Path = TRANSLATIONS) -> None:
    """Compile every catalogue whose messages.mo is missing or older than its messages.po."""
    for lang, po in catalogues(folder).items():
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=lang)
        # Several server processes may start at once: each writes its own file, the rename is atomic.
        partial = mo.with_name(f"messages.mo.{os.getpid()}")
        with partial.open("wb") as target:
            write_mo(target, catalog)
        os.replace(partial, mo)


def current_lang() -> str:
    lang = session.get(LANG_KEY) if has_request_context() else None
    return lang if lang in LANGS else LANGS[0]


@cache
def _chinese() -> Translations:
    """For code run outside the app (helpers called from tests or the command line)."""
    compile_catalogues()
    return Translations.load(str(TRANSLATIONS), [LANGS[0]])


def t(key: str, /, **values) -> str:
    """The UI string `key` in the session's language (the key itself when unknown)."""
    text = gettext(key) if has_app_context() else _chinese().gettext(key)
    return text.format(**values) if values else text


def localized(message: str) -> str:
    """An engine message in the session's language: a `Message` whose key the catalogue knows, else its
    Chinese text. Chinese pages (and API clients that never chose a language) get the engine's text as is."""
    if not isinstance(message, Message) or current_lang() == LANGS[0]:
        return str(message)
    text = gettext(message.code)
    if text == message.code:
        return str(message)
    params = {k: _param(v) for k, v in message.params.items()}
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):  # a catalogue entry out of step with the engine: keep the Chinese
        return str(message)


def localized_stored(text: str | None, record: dict | None) -> str:
    """A message stored as its Chinese text with its key and parameters beside it (errors.message_record), in
    the session's language; "" for none."""
    return "" if text is None else localized(stored_message(text, record))


def listed(items) -> str:
    """Items joined the way the session's language lists them (、 in Chinese, ", " in English)."""
    return t("form.list_separator").join(str(item) for item in items)


def _param(value):
    if isinstance(value, Message):
        return localized(value)
    if isinstance(value, (list, tuple)):
        return listed(_param(item) for item in value)
    return value


def problem_text(problem: Problem) -> str:
    """A form or file problem as the person reads it, in the session's language."""
    if problem.code is None:
        return problem.message
    return localized(Message(problem.message, problem.code, problem.params))


def localtime(value: datetime | None, with_time: bool = True) -> str:
    """A stored (UTC) time as company time, e.g. 2027-04-05 09:00."""
    if value is None:
        return ""
    return value.astimezone(COMPANY_TZ).strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def other_lang() -> str:
    return LANGS[1] if current_lang() == LANGS[0] else LANGS[0]


def lang_next() -> str:
    """Where the language switch returns to: this page, unless it answered a form (then the inbox)."""
    if request.method != "GET":
        return url_for("inbox.index")
    return request.full_path.rstrip("?")


def scope_label(scope: str | None) -> str:
    return t("scope.all") if scope in (None, "", ANY) else scope


bp = Blueprint("i18n", __name__)


@bp.post("/lang/<lang>")
def switch(lang: str):
    if lang in LANGS:
        session[LANG_KEY] = lang
    from .auth import safe_next

    return redirect(safe_next(request.form.get("next"), url_for("inbox.index")))


def init_app(app: Flask) -> None:
    compile_catalogues()
    Babel(app, locale_selector=current_lang, default_translation_directories=str(TRANSLATIONS))
    app.jinja_env.globals.update(t=t, current_lang=current_lang, other_lang=other_lang, lang_next=lang_next,
                                 scope_label=scope_label)
    app.jinja_env.filters["localtime"] = localtime
