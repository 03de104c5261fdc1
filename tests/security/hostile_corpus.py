"""The hostile inputs: files that attack the XML parser, and code that attacks the sandbox.

`FILES` are refused at the first gate (or by the BPMN checks); `SCRIPTS` go into an otherwise valid
process (script task, gateway condition, scope, due date, service parameter) and are refused at deploy
or fail the run without storing anything. Payloads that would prove an escape try to create the file
named by {sentinel}.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
MIB = 1024 * 1024

_MINIMAL = (f'<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions xmlns:bpmn="{BPMN_NS}" id="d" '
            'targetNamespace="http://t"><bpmn:process id="p" isExecutable="true">'
            '<bpmn:startEvent id="s"/></bpmn:process></bpmn:definitions>')


def _doctype(decl: str, body: str = "<a>&x;</a>") -> str:
    return f'<?xml version="1.0"?>\n<!DOCTYPE a [{decl}]>\n{body}'


def files() -> dict[str, bytes]:
    """name → bytes. Built on demand (two are 50 MiB)."""
    laughs = '<!ENTITY x0 "lol">' + "".join(
        f'<!ENTITY x{n} "{("&x" + str(n - 1) + ";") * 10}">' for n in range(1, 10))
    blowup = '<!ENTITY x "' + "A" * 50_000 + '">'
    xxe_file = _doctype('<!ENTITY x SYSTEM "file:///etc/passwd">')
    return {
        "xxe_file": xxe_file.encode(),
        "xxe_network": _doctype('<!ENTITY x SYSTEM "http://127.0.0.1:9/evil.dtd">').encode(),
        "xxe_parameter_entity": _doctype('<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;').encode(),
        "external_dtd": b'<?xml version="1.0"?>\n<!DOCTYPE a SYSTEM "http://127.0.0.1:9/a.dtd">\n<a/>',
        "billion_laughs": _doctype(laughs, "<a>&x9;</a>").encode(),
        "quadratic_blowup": _doctype(blowup, "<a>" + "&x;" * 40_000 + "</a>").encode(),
        "plain_doctype": b'<?xml version="1.0"?>\n<!DOCTYPE html>\n' + _MINIMAL.split("\n", 1)[1].encode(),
        "doctype_lowercase_spaced": b"<!  doctype a>\n<a/>",
        "doctype_utf16_no_bom": xxe_file.replace('version="1.0"', 'version="1.0" encoding="UTF-16"')
        .encode("utf-16-le"),
        "doctype_utf16_bom": xxe_file.encode("utf-16"),
        "doctype_utf32": xxe_file.encode("utf-32"),
        "doctype_utf7": b'<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE a +AFs-+ADw-!ENTITY x SYSTEM '
                        b'+ACI-file:///etc/passwd+ACI-+AD4-+AF0-+AD4-<a>&x;</a>',
        "xinclude": (f'<?xml version="1.0"?><bpmn:definitions xmlns:bpmn="{BPMN_NS}" '
                     'xmlns:xi="http://www.w3.org/2001/XInclude" id="d" targetNamespace="http://t">'
                     '<xi:include href="file:///etc/passwd" parse="text"/></bpmn:definitions>').encode(),
        "schema_location_network": (f'<?xml version="1.0"?><bpmn:definitions xmlns:bpmn="{BPMN_NS}" '
                                    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                                    f'xsi:schemaLocation="{BPMN_NS} http://127.0.0.1:9/x.xsd" id="d" '
                                    'targetNamespace="http://t"/>').encode(),
        "50_mib_whitespace": b"<definitions>" + b" " * (50 * MIB) + b"</definitions>",
        "50_mib_elements": b"<a>" + b"<b/>" * (50 * MIB // 4) + b"</a>",
        "just_over_5_mib": b"<a>" + b" " * (5 * MIB) + b"</a>",
        "deep_nesting": b"<a>" * 100_000 + b"</a>" * 100_000,
        "deep_nesting_bpmn": (_MINIMAL.replace("<bpmn:startEvent id=\"s\"/>",
                                               '<bpmn:subProcess id="sp">' * 300 + "</bpmn:subProcess>" * 300)
                              ).encode(),
        "many_attributes": ("<a " + " ".join(f'a{n}="1"' for n in range(200_000)) + "/>").encode(),
        "invalid_utf8": _MINIMAL.encode().replace(b'id="p"', b'id="p\xff\xfe"'),
        "overlong_utf8": _MINIMAL.encode().replace(b'id="p"', b'id="\xc0\xbc"'),
        "lone_surrogate_utf8": _MINIMAL.encode().replace(b'id="p"', b'id="\xed\xa0\x80"'),
        "nul_bytes": _MINIMAL.encode().replace(b'id="p"', b'id="p\x00"'),
        "latin1_declared_non_ascii": b'<?xml version="1.0" encoding="ISO-8859-1"?><a>\xe9</a>',
        "empty": b"",
        "whitespace_only": b"   \n\t",
        "binary": bytes(range(256)) * 64,
        "zip_file": b"PK\x03\x04" + b"\x00" * 200,
        "not_closed": _MINIMAL.encode()[:-10],
        "wrong_namespace_bpmn1": _MINIMAL.replace(BPMN_NS, "http://www.omg.org/bpmn20").encode(),
        "no_namespace": _MINIMAL.replace(f' xmlns:bpmn="{BPMN_NS}"', ' xmlns:bpmn="urn:x"').encode(),
        "html_root": b"<html><body><script>alert(1)</script></body></html>",
        "process_without_definitions": f'<bpmn:process xmlns:bpmn="{BPMN_NS}" id="p"/>'.encode(),
        "camunda_namespace_typo": _MINIMAL.replace("<bpmn:startEvent id=\"s\"/>",
                                                   '<bpmn:userTask id="u" xmlns:camunda="urn:typo"/>').encode(),
        "duplicate_ids": _MINIMAL.replace('<bpmn:startEvent id="s"/>',
                                          '<bpmn:startEvent id="s"/><bpmn:endEvent id="s"/>').encode(),
        "processing_instruction": _MINIMAL.replace("<bpmn:process", '<?evil cmd="rm -rf /"?><bpmn:process').encode()
        + b"<!-- <!DOCTYPE in a comment -->",
        "cdata_script_import": _process(script="<![CDATA[import os\nos.system('id')]]>", raw=True),
        "huge_attribute": _MINIMAL.replace('id="p"', 'id="' + "p" * (4 * MIB) + '"').encode(),
    }


# Scripts that compile under RestrictedPython must still fail when run; those that do not compile are
# refused at deploy. Either way nothing may happen outside the task data.
SCRIPTS: dict[str, str] = {
    # imports and builtins that reach the host
    "import": "import os\nos.system('touch {sentinel}')",
    "from_import": "from os import system\nsystem('touch {sentinel}')",
    "dunder_import": "__import__('os').system('touch {sentinel}')",
    "open": "open('{sentinel}', 'w').write('x')",
    "exec": "exec(\"open('{sentinel}', 'w')\")",
    "eval": "x = eval(\"open('{sentinel}', 'w')\")",
    "compile": "c = compile('1', 'x', 'eval')",
    "getattr_string": "f = getattr(__builtins__, 'open')\nf('{sentinel}', 'w')",
    "getattr_name": "f = getattr(x, '__class__')",
    "builtins_lookup": "b = __builtins__['__import__']",
    "builtins_dict": "b = __builtins__.__dict__",
    "globals": "g = globals()['__builtins__']",
    "vars_locals_dir": "v = vars()\nl = locals()\nd = dir()",
    "type_object": "t = type(1)\no = object",
    "breakpoint_input_help": "breakpoint()\ninput()\nhelp()",
    "memoryview_bytearray": "m = memoryview(b'x')\nb = bytearray(10)",
    "setattr_delattr": "setattr(rows, 'append', 1)\ndelattr(rows, 'x')",
    "class_definition": "class A:\n    pass\na = A()",
    # dunder walks
    "subclasses_walk": "s = ().__class__.__bases__[0].__subclasses__()",
    "mro_walk": "m = ''.__class__.__mro__[1].__subclasses__()",
    "function_globals": "def f():\n    pass\ng = f.__globals__",
    "lambda_code": "c = (lambda: 0).__code__",
    "init_globals": "g = [].__init__.__globals__",
    "popen_via_subclasses": "p = [c for c in ().__class__.__bases__[0].__subclasses__() "
                            "if c.__name__ == 'Popen'][0](['touch', '{sentinel}'])",
    # attribute access through format strings and f-strings
    "format_class": "s = '{{0.__class__}}'.format(1)",
    "format_globals": "def f():\n    pass\ns = '{{0.__globals__}}'.format(f)",
    "format_map": "s = '{{x.__class__}}'.format_map({{'x': 1}})",
    "str_format_unbound": "s = str.format('{{0.__class__}}', 1)",
    "fstring_dunder": "s = f'{{rows.__class__}}'",
    "percent_dict_dunder": "s = '%(a)s' % {{'a': rows}}",
    # frames through generators and tracebacks
    "gi_frame": "g = (x for x in [1])\nf = g.gi_frame.f_back.f_globals",
    "gi_code": "g = (x for x in [1])\nc = g.gi_code",
    "generator_frame_in_body": "def gen():\n    yield 1\ng = gen()\nf = g.gi_frame",
    "traceback_frame": "try:\n    1 / 0\nexcept Exception as e:\n    f = e.__traceback__.tb_frame",
    "exception_context": "try:\n    1 / 0\nexcept Exception as e:\n    c = e.__context__",
    # errors whose text is not text (SpiffWorkflow's report once crashed on them)
    "key_error_int": "x = {{}}[1]",
    "value_error_int": "raise ValueError(1)",
    "name_error_odd": "raise NameError(1)",
    "exception_none": "raise Exception(None)",
    # stopping the host process
    "system_exit": "raise SystemExit(3)",
    "keyboard_interrupt": "raise KeyboardInterrupt()",
    "generator_exit": "raise GeneratorExit()",
    # CPU
    "infinite_while": "while True:\n    pass",
    "nested_for": "n = 0\nfor i in range(999999):\n    for j in range(999999):\n        n += 1",
    "huge_range": "n = sum(range(10 ** 12))",
    "lambda_map_bomb": "r = list(map(lambda x: list(map(lambda y: y, range(999999))), range(999999)))",
    "caught_timeout_loop": "while True:\n    try:\n        while True:\n            pass\n    except Exception:\n"
                           "        pass",
    "caught_timeout_recursion": "def f():\n    try:\n        while True:\n            pass\n"
                                "    except BaseException:\n        return f()\nf()",
    "recursion": "def f():\n    return f()\nf()",
    "big_power": "x = 10 ** 10 ** 10",
    "power_of_big_base": "x = (10 ** 4096) ** 4096",
    "big_shift": "x = 1 << 10 ** 9",
    "squaring_loop": "a = 10 ** 4000\nwhile True:\n    a = a * a",
    "round_digits": "x = round(1, -10 ** 9)",
    # memory
    "string_multiplication": "s = 'x' * 10 ** 9",
    "list_multiplication": "s = [0] * 10 ** 9",
    "string_doubling": "s = 'a'\nwhile True:\n    s = s + s",
    "list_extend_doubling": "a = [0] * 1000\nwhile True:\n    a.extend(a)",
    "append_megabytes": "l = []\nwhile True:\n    l.append('x' * 999999)",
    "list_copies": "big = list(range(999999))\nr = [list(big) for i in range(100000)]",
    "dict_growth": "d = {{}}\ni = 0\nwhile True:\n    d[i] = i\n    i += 1",
    "ljust": "s = 'a'.ljust(10 ** 9)",
    "zfill_center_expandtabs": "s = '1'.zfill(10 ** 9) + 'a'.center(10 ** 9) + ('\\t' * 99).expandtabs(10 ** 7)",
    "replace_bomb": "s = 'a' * 999999\ns = s.replace('a', s)",
    "join_bomb": "s = 'x' * 999999\nr = ''.join([s for i in range(5000)])",
    "str_of_references": "s = 'x' * 999999\nl = [s for i in range(999999)]\nr = str(l)",
    "repr_of_references": "s = 'x' * 999999\nr = repr([s for i in range(9999)])",
    "fstring_width": "s = f'{{1:>999999999}}'",
    "percent_width": "s = '%999999999d' % 1",
    "percent_precision": "s = '%.999999999f' % 1.0",
    "sum_of_lists": "s = sum([[0] * 1000] * 100000, [])",
    "to_bytes": "b = (1).to_bytes(10 ** 9, 'big')",
    "translate_bomb": "s = ('a' * 999999).translate({{97: 'b' * 999999}})",
    "nested_list_repr": "a = []\nfor i in range(200000):\n    a = [a]\nr = str(a)",
    "cyclic_data": "a = []\na.append(a)\nrows.append(a)",
    "leaves_huge_data": "s = 'x' * 999999\nbig = [s for i in range(999)]",
}

# Expressions for the places that evaluate rather than execute (conditions, scopes, due dates, parameters).
EXPRESSIONS: dict[str, str] = {
    "condition_import": "__import__('os').system('touch {sentinel}')",
    "condition_open": "open('{sentinel}', 'w')",
    "condition_format": "'{{0.__class__}}'.format(1) == ''",
    "condition_gi_frame": "(x for x in [1]).gi_frame.f_back is None",
    "condition_huge": "len('x' * 10 ** 9) > 0",
    "condition_power": "10 ** 10 ** 10 > 0",
    "condition_lambda_bomb": "len(list(map(lambda x: sum(range(999999)), range(999999)))) > 0",
    "condition_fstring_width": "len(f'{{1:>999999999}}') > 0",
    "condition_key_error_int": "{{}}[1]",
    "condition_str_bomb": "len(str([('x' * 999999) for i in range(999)])) > 0",
}


def _process(script: str = "x = 1", condition: str = "True", scope: str = "'*'", due: str = "'P1D'",
             param: str = "'t'", process_id: str = "hostile", raw: bool = False) -> bytes:
    """A small valid process that runs each hostile piece: script task → gateway condition → user task
    (scope and due date) → service task parameter."""
    body = script if raw else escape(script)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN_NS}" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="http://smflow/hostile">
  <bpmn:process id="{process_id}" name="恶意流程 {process_id}" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="script" name="脚本" scriptFormat="python">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{body}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="gw" name="判断" default="f4">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing><bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:userTask id="task" name="1 审阅">
      <bpmn:extensionElements><camunda:properties>
        <camunda:property name="smflow:scope" value="{escape(scope, {'"': '&quot;'})}"/>
        <camunda:property name="smflow:due" value="{escape(due, {'"': '&quot;'})}"/>
      </camunda:properties></bpmn:extensionElements>
      <bpmn:incoming>f3</bpmn:incoming><bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:serviceTask id="notify" name="通知" camunda:type="external" camunda:topic="notify">
      <bpmn:extensionElements><camunda:inputOutput>
        <camunda:inputParameter name="message">{escape(param)}</camunda:inputParameter>
        <camunda:inputParameter name="role">'admin'</camunda:inputParameter>
      </camunda:inputOutput></bpmn:extensionElements>
      <bpmn:incoming>f5</bpmn:incoming><bpmn:outgoing>f6</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f6</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="script"/>
    <bpmn:sequenceFlow id="f2" sourceRef="script" targetRef="gw"/>
    <bpmn:sequenceFlow id="f3" sourceRef="gw" targetRef="task">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{escape(condition)}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="gw" targetRef="task"/>
    <bpmn:sequenceFlow id="f5" sourceRef="task" targetRef="notify"/>
    <bpmn:sequenceFlow id="f6" sourceRef="notify" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
""".encode()


def hostile_processes(sentinel: str) -> dict[str, bytes]:
    """name → a process carrying one hostile script or expression, each in its own process id."""
    out = {}
    for name, script in SCRIPTS.items():
        out[f"script:{name}"] = _process(script=script.format(sentinel=sentinel), process_id=f"h_{name}")
    for name, expression in EXPRESSIONS.items():
        code = expression.format(sentinel=sentinel)
        out[f"condition:{name}"] = _process(condition=code, process_id=f"hc_{name}")
        out[f"scope:{name}"] = _process(scope=code, process_id=f"hs_{name}")
        out[f"due:{name}"] = _process(due=code, process_id=f"hd_{name}")
        out[f"param:{name}"] = _process(param=code, process_id=f"hp_{name}")
    return out


def harmless_process() -> bytes:
    """The same process with harmless code: proves the hostile ones fail for their payload, not the frame."""
    return _process(process_id="harmless")
