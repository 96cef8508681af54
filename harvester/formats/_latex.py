"""LaTeX <-> Unicode for BibTeX values: a hand-written table for the common cases.

Decoding (``decode_latex``) is one regular-expression pass with a callback, so a value
is scanned once; a value with no backslash, brace, tie, dollar or ligature takes a fast
path and is returned as it is. Rules, in the order the scanner tries them:

* accents ``\\"u``, ``{\\"u}``, ``\\"{u}``, ``\\'{\\i}``, ``\\c{c}``, ``\\v s``, ``\\H{o}``,
  ``\\k{a}``, ``\\r{a}``, ``\\u{g}``, ``\\=a``, ``\\.z``, ``\\~n``, ``\\^o``, ``\\d``, ``\\b``,
  ``\\t`` compose to one precomposed character (NFC) where Unicode has one;
* ``\\char"4E2D``, ``\\char'116``, ``\\char78`` and ``\\symbol{"4E2D}`` give that code point
  (the writer's ASCII mode uses them for characters without a LaTeX name);
* named symbols and letters (``\\ss``, ``\\o``, ``\\ae``, ``\\l``, ``\\aa``, ``\\i``,
  ``\\textbackslash``, ``\\textendash``...) from our table, then from pylatexenc's table of
  argument-less macros (built once, on the first unknown macro: pylatexenc's own
  converter is far too slow per value); formatting commands (``\\textit``, ``\\emph``,
  ``\\textbf``, ``\\url``, ``\\it``...) disappear and their argument's text stays; a macro
  nobody knows is kept as written (``\\unknown``) so nothing is lost;
* escapes ``\\&`` ``\\%`` ``\\$`` ``\\#`` ``\\_`` ``\\{`` ``\\}`` give the character,
  ``\\\\`` a line break, ``\\-`` and ``\\/`` nothing;
* ``--`` and ``---`` become en and em dashes, ``~`` a no-break space, ````` and ``''``
  curly double quotes (TeX ligatures; callers skip this for verbatim fields such as
  ``url`` and ``doi``);
* math ``$...$`` is kept exactly as written, dollars included (we do not render math);
* every other brace is a protective or grouping brace and is removed.

Encoding (``escape_latex``) is the writer's half: specials escaped, braces balanced
whatever the input, ligatures broken with ``{}``, and optionally pure ASCII.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Combining marks for the accent commands.
_MARKS: dict[str, str] = {
    "`": "\u0300", "'": "\u0301", "^": "\u0302", "~": "\u0303", "=": "\u0304",
    "u": "\u0306", ".": "\u0307", '"': "\u0308", "r": "\u030a", "H": "\u030b",
    "v": "\u030c", "d": "\u0323", "c": "\u0327", "k": "\u0328", "b": "\u0331",
    "t": "\u0361",
}  # fmt: skip
# What an accent with an empty base (``\"{}``) prints.
_SPACING: dict[str, str] = {
    "`": "`", "'": "´", "^": "^", "~": "~", "=": "¯", ".": "˙", '"': "¨",
}  # fmt: skip

_NAMED: dict[str, str] = {
    "i": "ı", "j": "ȷ", "ss": "ß", "SS": "SS", "o": "ø", "O": "Ø", "ae": "æ", "AE": "Æ",
    "oe": "œ", "OE": "Œ", "l": "ł", "L": "Ł", "aa": "å", "AA": "Å", "dh": "ð", "DH": "Ð",
    "th": "þ", "TH": "Þ", "ng": "ŋ", "NG": "Ŋ", "dj": "đ", "DJ": "Đ",
    "textbackslash": "\\", "textasciitilde": "~", "textasciicircum": "^",
    "textunderscore": "_", "textbraceleft": "{", "textbraceright": "}", "textdollar": "$",
    "textpercent": "%", "textampersand": "&", "textbar": "|", "textless": "<",
    "textgreater": ">", "textendash": "–", "textemdash": "—", "textquoteleft": "‘",
    "textquoteright": "’", "textquotedblleft": "“", "textquotedblright": "”",
    "textquotedbl": '"', "textquotesingle": "'", "textellipsis": "…", "ldots": "…",
    "dots": "…", "textregistered": "®", "textcopyright": "©", "copyright": "©",
    "texttrademark": "™", "textdegree": "°", "textsection": "§", "S": "§", "P": "¶",
    "dag": "†", "ddag": "‡", "pounds": "£", "textsterling": "£", "euro": "€",
    "texteuro": "€", "textperiodcentered": "·", "guillemotleft": "«",
    "guillemotright": "»", "textexclamdown": "¡", "textquestiondown": "¿",
    "LaTeX": "LaTeX", "TeX": "TeX", "BibTeX": "BibTeX", "slash": "/", "space": " ",
    "quad": " ", "qquad": " ", "enspace": " ", "thinspace": " ", "nobreakspace": "\u00a0",
    "newline": "\n", "par": "\n", "linebreak": "\n",
}  # fmt: skip
# Commands whose name disappears and whose argument (a brace group) keeps its text.
_DROP = frozenset((
    "textit", "emph", "textbf", "textsc", "textrm", "textsf", "texttt", "textup", "textmd",
    "textsl", "textnormal", "mbox", "hbox", "text", "url", "path", "NoCaseChange", "nocase",
    "textsuperscript", "textsubscript", "it", "bf", "sc", "rm", "em", "sl", "tt", "sf",
    "itshape", "bfseries", "scshape", "upshape", "mdseries", "normalfont", "slshape",
    "rmfamily", "sffamily", "ttfamily", "mkbibquote", "enquote", "mkbibemph", "mkbibitalic",
    "mkbibbold", "uppercase", "lowercase", "MakeUppercase", "MakeLowercase", "ensuremath",
    "relax", "protect", "small", "large", "Large", "LARGE", "huge", "Huge", "tiny",
    "scriptsize", "footnotesize", "normalsize", "noindent"
))  # fmt: skip
_SYMBOLS: dict[str, str] = {
    "&": "&", "%": "%", "$": "$", "#": "#", "_": "_", "{": "{", "}": "}", " ": " ",
    "\\": "\n", "-": "", "/": "", "@": "", ",": "\u2009", ";": " ", ":": " ", "!": "",
    "\n": " ", "\t": " ", "~": "~", "^": "^", "'": "'", '"': '"', "`": "`",
}  # fmt: skip

_I = r"\\[ij](?![A-Za-z])|[A-Za-z]"
_TOKEN = re.compile(
    # The lookahead lets the scanner skip plain text quickly; the first alternative takes
    # a whole special-character group ({\'e}, {\v{r}}, {\ss}) in one step.
    r"""(?=[\\$`'{}~-])(?:(?P<group>\{\\[^{}\\\s]{1,3}(?:\{[^{}\\]{1,2}\})?\})"""
    rf"""|\\(?P<acc>[`'^"~=.])\s*(?:\{{\s*(?P<ab>{_I})?\s*\}}|(?P<ac>{_I}))"""
    rf"""|\\(?P<lacc>[uvHckrbdt])(?![A-Za-z])\s*(?:\{{\s*(?P<lb>{_I})?\s*\}}|(?P<lc>[A-Za-z]))"""
    r"""|\\char\s*(?:"(?P<hex>[0-9A-Fa-f]{1,6})|'(?P<oct>[0-7]{1,8})|(?P<dec>[0-9]{1,7}))"""
    r"""|\\symbol\s*\{\s*(?:"(?P<shex>[0-9A-Fa-f]{1,6})|(?P<sdec>[0-9]{1,7}))\s*\}"""
    r"""|\\(?:begin|end)\s*\{[A-Za-z*]*\}"""
    r"""|\\href\s*\{[^{}]*\}"""
    r"""|\\(?P<name>[A-Za-z]+)(?P<ws>\s*)"""
    r"""|\\(?P<sym>.)"""
    r"""|\$(?P<math>[^$]*)\$"""
    r"""|---|--|``|''|[{}~])""",
    re.DOTALL,
)
_NEEDS_WORK = re.compile(r"[\\{}~$]|--|``|''")
_VERBATIM_ESCAPE = re.compile(r"\\([_%&#$~{}])")

_fallback: dict[str, str] | None = None


def _pylatexenc_table() -> dict[str, str]:
    """Argument-less macros pylatexenc knows (``\\alpha`` -> α), built once on demand."""
    global _fallback
    if _fallback is None:
        table: dict[str, str] = {}
        try:
            from pylatexenc import latex2text, latexwalker

            text_db = latex2text.get_default_latex_context_db()
            parse_db = latexwalker.get_default_latex_context_db()
            for spec in text_db.iter_macro_specs():
                repl = getattr(spec, "simplify_repl", None)
                if not isinstance(repl, str) or "%" in repl:
                    continue
                parser = getattr(parse_db.get_macro_spec(spec.macroname), "args_parser", None)
                if getattr(parser, "argspec", "") in ("", None):
                    table[spec.macroname] = repl
        except (ImportError, AttributeError):  # pragma: no cover - pylatexenc is a dependency
            table = {}
        _fallback = table
    return _fallback


@lru_cache(maxsize=4096)
def _accent(command: str, base: str | None) -> str:
    if base is None:
        return _SPACING.get(command, "")
    if base[0] == "\\":
        base = base[1]  # \i and \j lose their dot under an accent
    return unicodedata.normalize("NFC", base + _MARKS[command])


def _code_point(text: str, base: int) -> str:
    number = int(text, base)
    if 0 < number <= 0x10FFFF and not 0xD800 <= number <= 0xDFFF:
        return chr(number)
    return "\ufffd"


_TOKEN_CACHE: dict[str, str] = {
    "{": "", "}": "", "~": "\u00a0", "--": "–", "---": "—", "``": "“", "''": "”",
}  # fmt: skip


def _replace(match: re.Match[str]) -> str:
    token = match.group(0)
    cached = _TOKEN_CACHE.get(token)
    if cached is not None:
        return cached
    result = _decode_token(match, token)
    name = match.group("name")
    known = name is None or name in _NAMED or name in _DROP or name in _pylatexenc_table()
    if known and token[0] == "\\" and len(_TOKEN_CACHE) < 20_000:
        # Accents, symbols, known macros and code points depend on the token alone;
        # unknown macros (kept as written) depend on what follows them.
        _TOKEN_CACHE[token] = result
    return result


def _decode_token(match: re.Match[str], token: str) -> str:
    if match.group("group") is not None:
        return _TOKEN.sub(_replace, token[1:-1])
    first = token[0]
    if first == "{" or first == "}":
        return ""
    if first == "~":
        return "\u00a0"
    if first == "-":
        return "—" if len(token) == 3 else "–"
    if first == "`":
        return "“"
    if first == "'":
        return "”"
    if first == "$":
        return token
    # A backslash command.
    name = match.group("name")
    if name is not None:
        named = _NAMED.get(name)
        if named is not None:
            return named
        if name in _DROP:
            return ""
        known = _pylatexenc_table().get(name)
        if known is not None:
            return known
        # Unknown: kept as written (with its trailing space); a space keeps it apart from
        # its argument, whose braces go like all others.
        if not match.group("ws") and match.string[match.end() : match.end() + 1] == "{":
            return token + " "
        return token
    accent = match.group("acc") or match.group("lacc")
    if accent is not None:
        base = match.group("ab") or match.group("ac") or match.group("lb") or match.group("lc")
        return _accent(accent, base)
    sym = match.group("sym")
    if sym is not None:
        return _SYMBOLS.get(sym, token)
    for group, base in (("hex", 16), ("shex", 16), ("oct", 8), ("dec", 10), ("sdec", 10)):
        digits = match.group(group)
        if digits is not None:
            return _code_point(digits, base)
    return ""  # \begin{...}, \end{...}, the URL of \href{url}{text}


def decode_latex(text: str) -> str:
    """Return ``text`` (a BibTeX field value) as Unicode, protective braces removed."""
    if _NEEDS_WORK.search(text) is None:
        return text
    return _TOKEN.sub(_replace, text)


def decode_verbatim(text: str) -> str:
    """Values BibLaTeX reads verbatim (``url``, ``doi``): only ``\\_``-style escapes undone."""
    if "\\" not in text:
        return text
    return _VERBATIM_ESCAPE.sub(r"\1", text)


# ---------------------------------------------------------------------------------------
# Encoding

# In this order: the backslash first (the others add backslashes), the tie after "~".
_ESCAPES: tuple[tuple[str, str], ...] = (
    ("\\", r"\textbackslash{}"),
    ("&", r"\&"),
    ("%", r"\%"),
    ("$", r"\$"),
    ("#", r"\#"),
    ("_", r"\_"),
    ("~", r"\textasciitilde{}"),
    ("^", r"\textasciicircum{}"),
    ("\u00a0", "~"),
)
LATEX_SPECIAL = re.compile(r"[\\&%$#_~^{}\u00a0]|--|``|''")
_BRACE = re.compile(r"[{}]")
_INVERSE_MARKS = {mark: command for command, mark in _MARKS.items() if command != "t"}
_ASCII_NAMED: dict[str, str] = {
    "ı": r"{\i}", "ȷ": r"{\j}", "ß": r"{\ss}", "ø": r"{\o}", "Ø": r"{\O}", "æ": r"{\ae}",
    "Æ": r"{\AE}", "œ": r"{\oe}", "Œ": r"{\OE}", "ł": r"{\l}", "Ł": r"{\L}", "ð": r"{\dh}",
    "Ð": r"{\DH}", "þ": r"{\th}", "Þ": r"{\TH}", "ŋ": r"{\ng}", "Ŋ": r"{\NG}", "đ": r"{\dj}",
    "Đ": r"{\DJ}", "–": r"\textendash{}", "—": r"\textemdash{}", "‘": r"\textquoteleft{}",
    "’": r"\textquoteright{}", "“": r"\textquotedblleft{}", "”": r"\textquotedblright{}",
    "…": r"\ldots{}", "§": r"\S{}", "¶": r"\P{}", "©": r"\textcopyright{}",
    "®": r"\textregistered{}", "™": r"\texttrademark{}", "°": r"\textdegree{}",
    "£": r"\pounds{}", "€": r"\euro{}", "«": r"\guillemotleft{}", "»": r"\guillemotright{}",
    "¡": r"\textexclamdown{}", "¿": r"\textquestiondown{}", "†": r"\dag{}", "‡": r"\ddag{}",
    "·": r"\textperiodcentered{}",
}  # fmt: skip


def _escape_plain(text: str) -> str:
    """Escape specials in text that has no braces."""
    # str.replace per special present beats str.translate with a dict by far on long text.
    for char, escape in _ESCAPES:
        if char in text:
            text = text.replace(char, escape)
    # Break the TeX ligatures so that what is read back is what was written.
    while "--" in text:
        text = text.replace("--", "-{}-")
    while "``" in text:
        text = text.replace("``", "`{}`")
    while "''" in text:
        text = text.replace("''", "'{}'")
    return text


_INNERMOST = re.compile(r"\{[^{}]*\}")
_PAIRS = str.maketrans({"\x01": "\\{", "\x02": "\\}"})


def _all_matched(text: str) -> bool:
    """True when every brace in ``text`` has its partner (checked in C, level by level)."""
    if text.count("{") != text.count("}") or "\x01" in text or "\x02" in text:
        return False
    for _ in range(32):
        reduced = _INNERMOST.sub("", text)
        if reduced == text:
            break
        text = reduced
    return "{" not in text and "}" not in text


def _escape_braces(text: str) -> str:
    """Matched braces as ``\\{``/``\\}``; unmatched ones as ``\\textbraceleft{}``.

    BibTeX counts braces even after a backslash, so only a matched pair may be written
    as ``\\{ \\}``: a lone ``\\{`` would unbalance the value for BibTeX and pybtex.
    """
    if _all_matched(text):
        return _escape_plain(text.replace("{", "\x01").replace("}", "\x02")).translate(_PAIRS)
    positions = [(m.start(), m.group(0)) for m in _BRACE.finditer(text)]
    stack: list[int] = []
    matched: set[int] = set()
    for pos, char in positions:
        if char == "{":
            stack.append(pos)
        elif stack:
            matched.add(stack.pop())
            matched.add(pos)
    out: list[str] = []
    last = 0
    for pos, char in positions:
        out.append(_escape_plain(text[last:pos]))
        if pos in matched:
            out.append("\\" + char)
        else:
            out.append(r"\textbraceleft{}" if char == "{" else r"\textbraceright{}")
        last = pos + 1
    out.append(_escape_plain(text[last:]))
    return "".join(out)


@lru_cache(maxsize=8192)
def ascii_escape_char(char: str) -> tuple[str, bool]:
    """The ASCII LaTeX for one non-ASCII character, and whether it is a real escape.

    ``False`` means no LaTeX name was found and ``{\\char"<hex>}`` was written, which
    only XeLaTeX/LuaLaTeX typeset.
    """
    named = _ASCII_NAMED.get(char)
    if named is not None:
        return named, True
    decomposed = unicodedata.normalize("NFD", char)
    base, marks = decomposed[0], decomposed[1:]
    if len(marks) == 1 and base.isascii() and base.isalpha() and marks in _INVERSE_MARKS:
        command = _INVERSE_MARKS[marks]
        if command.isalpha():
            return f"{{\\{command}{{{base}}}}}", True
        return f"{{\\{command}{base}}}", True
    try:
        from pylatexenc.latexencode import unicode_to_latex

        candidate = unicode_to_latex(char, non_ascii_only=True, unknown_char_warning=False)
    except ImportError:  # pragma: no cover - pylatexenc is a dependency
        candidate = char
    if candidate.isascii() and decode_latex(candidate) == char and _balanced(candidate):
        if candidate.startswith("\\") and candidate[-1].isalpha():
            candidate += "{}"
        return f"{{{candidate}}}" if not candidate.startswith("{") else candidate, True
    return f'{{\\char"{ord(char):X}}}', False


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def escape_latex(text: str, *, ascii_only: bool = False) -> tuple[str, str]:
    """Escape ``text`` for a braced BibTeX value.

    Returns the escaped text and the characters that had no ASCII LaTeX escape (empty
    unless ``ascii_only``); those were written as ``{\\char"<hex>}``.
    """
    # _escape_plain returns text without specials as it is; its substring tests are
    # faster than asking LATEX_SPECIAL first.
    text = _escape_braces(text) if ("{" in text or "}" in text) else _escape_plain(text)
    if not ascii_only or text.isascii():
        return text, ""
    out: list[str] = []
    missing: list[str] = []
    for char in text:
        if char.isascii():
            out.append(char)
            continue
        escaped, ok = ascii_escape_char(char)
        out.append(escaped)
        if not ok:
            missing.append(char)
    return "".join(out), "".join(missing)
