"""The diagrams render cleanly: complete DI, no overlaps, no flow through a shape, shapes in their lanes."""

from importlib import resources
from itertools import pairwise

import pytest
from lxml import etree

PROCESSES = ["SM1_1", "SM1_2", "SM1_3", "SM2_1", "SM2_2"]
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
NS = {
    "bpmn": BPMN,
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
}
FLOW_NODES = {
    f"{{{BPMN}}}{tag}"
    for tag in (
        "task",
        "userTask",
        "serviceTask",
        "scriptTask",
        "manualTask",
        "sendTask",
        "receiveTask",
        "businessRuleTask",
        "callActivity",
        "subProcess",
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        "exclusiveGateway",
        "parallelGateway",
        "inclusiveGateway",
        "eventBasedGateway",
    )
}
EPS = 0.01


class Diagram:
    def __init__(self, pid):
        self.pid = pid
        self.root = etree.fromstring(resources.files("bpmn").joinpath(f"{pid}.bpmn").read_bytes())
        (self.process,) = self.root.xpath(f"//bpmn:process[@id='{pid}']", namespaces=NS)
        self.shapes = {}
        for shape in self.root.iterfind(".//bpmndi:BPMNShape", NS):
            b = shape.find("dc:Bounds", NS)
            self.shapes[shape.get("bpmnElement")] = tuple(
                float(b.get(k)) for k in ("x", "y", "width", "height")
            )
        self.edges = {}
        for edge in self.root.iterfind(".//bpmndi:BPMNEdge", NS):
            self.edges[edge.get("bpmnElement")] = [
                (float(w.get("x")), float(w.get("y"))) for w in edge.iterfind("di:waypoint", NS)
            ]
        self.flow_nodes = [e for e in self.process.iter() if e.tag in FLOW_NODES]
        self.lane_of = {
            ref.text: lane.get("id")
            for lane in self.process.iter(f"{{{BPMN}}}lane")
            for ref in lane.iterfind("bpmn:flowNodeRef", NS)
        }


@pytest.fixture(scope="module", params=PROCESSES)
def diagram(request):
    return Diagram(request.param)


def _overlap(a, b) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw - EPS and bx < ax + aw - EPS and ay < by + bh - EPS and by < ay + ah - EPS


def _segment_hits(p, q, rect, allow_border: bool) -> bool:
    """Liang–Barsky clip of segment pq against rect; with allow_border only the open interior counts."""
    x, y, w, h = rect
    if allow_border:
        x, y, w, h = x + EPS, y + EPS, w - 2 * EPS, h - 2 * EPS
    else:
        x, y, w, h = x - EPS, y - EPS, w + 2 * EPS, h + 2 * EPS
    dx, dy = q[0] - p[0], q[1] - p[1]
    t0, t1 = 0.0, 1.0
    for pk, qk in ((-dx, p[0] - x), (dx, x + w - p[0]), (-dy, p[1] - y), (dy, y + h - p[1])):
        if pk == 0:
            if qk < 0:
                return False
            continue
        t = qk / pk
        if pk < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return False
    return True


def test_segment_test_itself():
    box = (0, 0, 10, 10)
    assert _segment_hits((-5, 5), (15, 5), box, allow_border=False)
    assert not _segment_hits((-5, 12), (15, 12), box, allow_border=False)
    assert _segment_hits((-5, 10), (15, 10), box, allow_border=False)  # touching counts for other shapes
    assert not _segment_hits((-5, 10), (15, 10), box, allow_border=True)  # but not for source/target
    assert not _segment_hits((10, 5), (20, 5), box, allow_border=True)
    assert _segment_hits((-5, -5), (15, 15), box, allow_border=True)


def test_every_element_has_di(diagram):
    missing = [e.get("id") for e in diagram.flow_nodes if e.get("id") not in diagram.shapes]
    missing += [
        lane.get("id")
        for lane in diagram.process.iter(f"{{{BPMN}}}lane")
        if lane.get("id") not in diagram.shapes
    ]
    missing += [
        d.get("id")
        for d in diagram.process.iter(f"{{{BPMN}}}dataObjectReference")
        if d.get("id") not in diagram.shapes
    ]
    (participant,) = diagram.root.iterfind(".//bpmn:participant", NS)
    if participant.get("id") not in diagram.shapes:
        missing.append(participant.get("id"))
    edges = [f.get("id") for f in diagram.process.iter(f"{{{BPMN}}}sequenceFlow")]
    edges += [
        a.get("id")
        for tag in ("dataInputAssociation", "dataOutputAssociation", "association")
        for a in diagram.process.iter(f"{{{BPMN}}}{tag}")
    ]
    missing += [e for e in edges if e not in diagram.edges or len(diagram.edges[e]) < 2]
    assert missing == []


def test_flow_node_shapes_do_not_overlap(diagram):
    nodes = [e for e in diagram.flow_nodes]
    attached = {e.get("id"): e.get("attachedToRef") for e in nodes if e.get("attachedToRef")}
    clashes = []
    for i, a in enumerate(nodes):
        for b in nodes[i + 1 :]:
            ida, idb = a.get("id"), b.get("id")
            if attached.get(ida) == idb or attached.get(idb) == ida:
                continue  # a boundary event sits on its host's border
            if _overlap(diagram.shapes[ida], diagram.shapes[idb]):
                clashes.append((ida, idb))
    assert clashes == []


def test_sequence_flows_do_not_cross_other_shapes(diagram):
    hits = []
    for flow in diagram.process.iter(f"{{{BPMN}}}sequenceFlow"):
        own = {flow.get("sourceRef"), flow.get("targetRef")}
        points = diagram.edges[flow.get("id")]
        for p, q in pairwise(points):
            for node in diagram.flow_nodes:
                nid = node.get("id")
                if _segment_hits(p, q, diagram.shapes[nid], allow_border=nid in own):
                    hits.append((flow.get("id"), nid))
    assert hits == []


def test_sequence_flows_start_and_end_on_their_shapes(diagram):
    def on_border(point, rect):
        x, y, w, h = rect
        inside = x - 1 <= point[0] <= x + w + 1 and y - 1 <= point[1] <= y + h + 1
        near = min(abs(point[0] - x), abs(point[0] - x - w), abs(point[1] - y), abs(point[1] - y - h)) <= 1
        return inside and near

    bad = []
    for flow in diagram.process.iter(f"{{{BPMN}}}sequenceFlow"):
        points = diagram.edges[flow.get("id")]
        if not on_border(points[0], diagram.shapes[flow.get("sourceRef")]):
            bad.append((flow.get("id"), "source"))
        if not on_border(points[-1], diagram.shapes[flow.get("targetRef")]):
            bad.append((flow.get("id"), "target"))
    assert bad == []


def test_sequence_flows_are_orthogonal(diagram):
    slanted = [
        flow.get("id")
        for flow in diagram.process.iter(f"{{{BPMN}}}sequenceFlow")
        for p, q in pairwise(diagram.edges[flow.get("id")])
        if abs(p[0] - q[0]) > EPS and abs(p[1] - q[1]) > EPS
    ]
    assert slanted == []


def test_shapes_lie_inside_their_lane(diagram):
    outside = []
    for node in diagram.flow_nodes:
        nid = node.get("id")
        lane = diagram.lane_of.get(nid)
        assert lane is not None, f"{nid} is in no lane"
        x, y, w, h = diagram.shapes[nid]
        lx, ly, lw, lh = diagram.shapes[lane]
        if not (lx <= x and ly <= y and x + w <= lx + lw and y + h <= ly + lh):
            outside.append((nid, lane))
    assert outside == []


def test_lanes_stack_inside_the_pool(diagram):
    (participant,) = diagram.root.iterfind(".//bpmn:participant", NS)
    px, py, pw, ph = diagram.shapes[participant.get("id")]
    lanes = [diagram.shapes[lane.get("id")] for lane in diagram.process.iter(f"{{{BPMN}}}lane")]
    assert lanes[0][1] == py and lanes[-1][1] + lanes[-1][3] == py + ph
    for upper, lower in pairwise(lanes):
        assert upper[1] + upper[3] == lower[1]
    for lx, _ly, lw, _lh in lanes:
        assert px < lx and lx + lw == px + pw


def test_data_objects_lie_inside_the_pool(diagram):
    (participant,) = diagram.root.iterfind(".//bpmn:participant", NS)
    px, py, pw, ph = diagram.shapes[participant.get("id")]
    for ref in diagram.process.iter(f"{{{BPMN}}}dataObjectReference"):
        x, y, w, h = diagram.shapes[ref.get("id")]
        assert px <= x and py <= y and x + w <= px + pw and y + h <= py + ph, ref.get("id")
