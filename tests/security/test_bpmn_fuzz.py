"""A property-based fuzzer: hypothesis mutates the manual's five process files (bytes, tags, namespaces,
ids, hostile expressions and XML tricks) and deploys each mutant through the engine; what deploys is
started. The only acceptable outcomes are success or a SmflowError; a refused file stores nothing.

SMFLOW_FUZZ_EXAMPLES sets the number of mutants (default 300, about 20 s).
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape

import pytest
from hostile_corpus import EXPRESSIONS, SCRIPTS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from support import Env, env_int, load_demo, record_figures

from engine.errors import SmflowError, ValidationFailed
from engine.store.models import BpmnFile, ProcessDefinition, ProcessInstance
from web.demo import MANUAL_FILES, manual_file

EXAMPLES = env_int("SMFLOW_FUZZ_EXAMPLES", 300)
ORIGINALS = {name: manual_file(name) for name in MANUAL_FILES}
SENTINEL = "/nonexistent-smflow-fuzz/ESCAPED"
HOSTILE_CODE = [s.format(sentinel=SENTINEL) for s in SCRIPTS.values()] + \
    [e.format(sentinel=SENTINEL) for e in EXPRESSIONS.values()]
SNIPPETS = [
    b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>', b"&e;", b"<![CDATA[", b"]]>", b"\xff\xfe\x00",
    b"<bpmn:subProcess id='sp'>" * 50, b"</bpmn:process>", b'<bpmn:userTask id="x" name="' + b"A" * 300 + b'"/>',
    b'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODELX"', b"<?pi x?>", b"<!-- -->", b"\x00", b"&#0;",
    b"&#xD800;", b'<camunda:property name="smflow:scope" value="__import__(\'os\')"/>',
]
TAGS = [b"userTask", b"serviceTask", b"scriptTask", b"exclusiveGateway", b"parallelGateway", b"task", b"startEvent",
        b"endEvent", b"sendTask", b"subProcess", b"callActivity", b"boundaryEvent", b"lane", b"process"]
CODE_SITES = re.compile(rb'(value="[^"]*"|<bpmn:conditionExpression[^>]*>[^<]*<|<bpmn:script>[^<]*<'
                        rb'|<camunda:inputParameter name="[^"]*">[^<]*<|<bpmn:timeCycle[^>]*>[^<]*<)')
# On a failure hypothesis warns that the (100 kB) failing file makes a large repr; the failure is what counts.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
COUNTS = {"inputs_tried": 0, "deployed": 0, "refused": 0, "started": 0, "run_refused": 0, "crashes": 0,
          "stored": 0}


@st.composite
def mutants(draw) -> bytes:
    data = bytearray(ORIGINALS[draw(st.sampled_from(MANUAL_FILES))])
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "delete", "duplicate", "insert", "truncate", "snippet", "tag",
                                     "namespace", "id", "code", "code", "code", "code", "code"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 300))]
        elif kind == "duplicate":
            data[at:at] = data[at:at + draw(st.integers(1, 2000))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=40))
        elif kind == "truncate":
            del data[at:]
        elif kind == "code":
            sites = list(CODE_SITES.finditer(data))
            if sites:
                site = sites[draw(st.integers(0, len(sites) - 1))]
                code = escape(draw(st.sampled_from(HOSTILE_CODE)), {'"': "&quot;"}).encode()
                text = site.group(0)
                if text.startswith(b"value="):
                    new = b'value="' + code + b'"'
                else:
                    new = text[: text.index(b">") + 1] + code + b"<"
                data[site.start():site.end()] = new
        elif kind == "snippet":
            boundary = data.find(b"<", at)
            if boundary >= 0:
                data[boundary:boundary] = draw(st.sampled_from(SNIPPETS))
        elif kind == "tag":
            old, new = draw(st.sampled_from(TAGS)), draw(st.sampled_from(TAGS))
            data = bytearray(data.replace(b"bpmn:" + old, b"bpmn:" + new, draw(st.integers(1, 3))))
        elif kind == "namespace":
            data = bytearray(data.replace(b"http://www.omg.org/spec/BPMN/20100524/MODEL",
                                          draw(st.sampled_from([b"urn:x", b"http://www.omg.org/bpmn20", b""])), 1))
        elif kind == "id":
            ids = re.findall(rb' id="([^"]+)"', data)
            if len(ids) > 1:
                a, b = draw(st.sampled_from(ids)), draw(st.sampled_from(ids))
                data = bytearray(data.replace(b'id="' + a + b'"', b'id="' + b + b'"', 1))
    return bytes(data)


def _counts(env) -> tuple:
    with env.sessions() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in (BpmnFile, ProcessDefinition))


def test_mutated_manual_files_deploy_or_are_refused_and_never_crash(sqlite_url, clock):
    env = Env(sqlite_url, clock)
    env.engine.sandbox.time_limit = 0.25
    load_demo(env.sessions, env.engine, clock, extra_files=())

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not env_int("SMFLOW_FUZZ_RANDOM", 0),
              suppress_health_check=list(HealthCheck))
    @given(mutants())
    def deploy_and_start(data: bytes):
        COUNTS["inputs_tried"] += 1
        before = _counts(env)
        try:
            results = env.tx(lambda s: env.engine.deploy(s, data, "mutant.bpmn", "admin"))
        except ValidationFailed:
            COUNTS["refused"] += 1
            stored = sum(a - b for a, b in zip(_counts(env), before, strict=True))
            COUNTS["stored"] += stored
            assert stored == 0
            return
        except SmflowError:
            COUNTS["refused"] += 1
            return
        except Exception:
            COUNTS["crashes"] += 1
            raise
        COUNTS["deployed"] += 1
        for result in results:
            if not result.executable:
                continue
            try:
                with env.sessions() as s:
                    existing = s.scalar(select(func.count()).select_from(ProcessInstance))
                env.tx(lambda s, pid=result.process_id, v=result.version: env.engine.start(s, pid, "admin", None, v))
                COUNTS["started"] += 1
            except SmflowError:
                COUNTS["run_refused"] += 1
                with env.sessions() as s:
                    assert s.scalar(select(func.count()).select_from(ProcessInstance)) == existing
            except Exception:
                COUNTS["crashes"] += 1
                raise

    try:
        deploy_and_start()
    finally:
        env.db.dispose()
        record_figures("fuzzer", dict(COUNTS))
    assert COUNTS["crashes"] == 0
