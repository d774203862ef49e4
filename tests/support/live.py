"""A fake op-conductor cluster for the live operations' unit tests, behind the ``Endpoint(transport=...)`` seam: no Go,
no sockets, no real time (a clock that only counts).

The fake answers every ``conductor_*`` method a live module calls from one shared state (leader, membership,
version), the way op-conductor does: a membership change carries the version it was planned against and is refused
when the configuration moved on since; a leadership transfer is only accepted by the leader.
"""

import json

import pytest

from ansible_collections.opstack.conductor.plugins.module_utils import _conductor_rpc as rpc
from ansible_collections.opstack.conductor.plugins.module_utils import _leadership as leadership
from ansible_collections.opstack.conductor.plugins.module_utils import _membership as membership

SUFFRAGE = {"voter": 0, "nonvoter": 1}
VERSIONED = ("conductor_addServerAsVoter", "conductor_addServerAsNonvoter", "conductor_removeServer",
             "conductor_demoteVoter")


class InvalidParams(RuntimeError):
    """-32602, as go-ethereum's RPC server answers a call with missing arguments."""


class FakeClock:
    """Time that passes only when a wait sleeps; every sleep is one poll interval of the cluster's life."""

    def __init__(self, cluster):
        self.now = 0.0
        self.cluster = cluster
        self.sleeps = 0

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps += 1
        assert self.sleeps < 1000, "a wait did not stop"
        self.now += seconds
        self.cluster.tick()


class FakeCluster:
    """A Raft cluster as op-conductor's RPC shows it; ``down`` nodes do not answer, ``sees`` makes a node name
    another leader, ``on_transfer`` / ``on_change`` / ``later`` script what happens."""

    def __init__(self, members, leader):
        self.servers = [dict(id=i, addr="10.0.0.%d:50050" % n, suffrage=SUFFRAGE[s])
                        for n, (i, s) in enumerate(members, 1)]
        self.version = 10
        self.leader = leader
        self.down = set()
        self.sees = {}
        self.healthy = {}
        self.missing = set()
        self.paused = {}
        self.on_transfer = self.transfer_now
        self.on_change = None
        self.later = []  # callables run at each tick (one per poll interval)
        self.sent = []  # (node, method, params) of every call that changes something

    def address(self, node_id):
        return next(s["addr"] for s in self.servers if s["id"] == node_id)

    def tick(self):
        for event in list(self.later):
            event()

    def transfer_now(self, target):
        self.leader = target

    def conductors(self, ids):
        return dict((i, rpc.Conductor(i, "http://127.0.0.%d:9545" % n, transport=self.transport(i)))
                    for n, i in enumerate(ids, 1))

    def transport(self, node_id):
        def post(url, body, timeout):
            request = json.loads(body)
            if node_id in self.down:
                raise rpc.Unreachable("cannot reach %s: connection refused" % url, url=url)
            if request["method"] in self.missing:
                reply = {"error": {"code": -32601, "message": "the method %s does not exist" % request["method"]}}
            else:
                try:
                    reply = {"result": self.answer(node_id, request["method"], request["params"])}
                except RuntimeError as exc:
                    code = -32602 if isinstance(exc, InvalidParams) else -32000
                    reply = {"error": {"code": code, "message": str(exc)}}
            return json.dumps(dict(reply, jsonrpc="2.0", id=request["id"])).encode()
        return post

    def answer(self, node_id, method, params):
        reads = {
            "conductor_leader": lambda: node_id == self.leader,
            "conductor_leaderWithID": lambda: dict(id=self.sees.get(node_id, self.leader),
                                                   addr=self.address(self.sees.get(node_id, self.leader))),
            "conductor_clusterMembership": lambda: dict(servers=[dict(s) for s in self.servers],
                                                        version=self.version),
            "conductor_paused": lambda: self.paused.get(node_id, False),
            "conductor_stopped": lambda: False,
            "conductor_active": lambda: node_id == self.leader,
            "conductor_sequencerHealthy": lambda: self.healthy.get(node_id, True),
            "conductor_leaderOverridden": lambda: False,
        }
        if method in reads:
            return reads[method]()
        if method in VERSIONED and not params:
            # go-ethereum's RPC server checks the arguments before calling: nothing happens (a probe)
            raise InvalidParams("missing value for required argument 0")
        self.sent.append((node_id, method, params))
        if method in ("conductor_pause", "conductor_resume"):
            self.paused[node_id] = method == "conductor_pause"
            return None
        if node_id != self.leader:
            raise RuntimeError("node is not the leader")
        if method == "conductor_transferLeaderToServer":
            return self.on_transfer(params[0])
        return self.change(method, params)

    def change(self, method, params):
        if self.on_change is not None:
            self.on_change(method, params)
        if params[-1] != self.version:
            raise RuntimeError("configuration changed since %d (latest is %d)" % (params[-1], self.version))
        ids = [s["id"] for s in self.servers]
        if method in ("conductor_addServerAsVoter", "conductor_addServerAsNonvoter"):
            suffrage = 0 if method == "conductor_addServerAsVoter" else 1
            if params[0] in ids:
                entry = self.servers[ids.index(params[0])]
                entry.update(addr=params[1], suffrage=min(entry["suffrage"], suffrage))
            else:
                self.servers.append(dict(id=params[0], addr=params[1], suffrage=suffrage))
        elif method == "conductor_demoteVoter":
            self.servers[ids.index(params[0])]["suffrage"] = 1
        elif method == "conductor_removeServer":
            self.servers = [s for s in self.servers if s["id"] != params[0]]
        self.version += 1
        return None

    def transfers(self):
        return [s for s in self.sent if s[1] == "conductor_transferLeaderToServer"]

    def changes(self):
        return [(s[1], s[2][0]) for s in self.sent if s[1] != "conductor_transferLeaderToServer"]


THREE = [("a", "voter"), ("b", "voter"), ("c", "voter")]


def mover(cluster, target, check_mode=False, **params):
    options = dict(leader=target, timeout=20.0, poll_interval=1.0, attempts=2, require_all=True,
                   require_healthy=True)
    options.update(params)
    warnings = []
    clock = FakeClock(cluster)
    move = leadership.LeaderMover(cluster.conductors([s["id"] for s in cluster.servers]), options,
                                  check_mode=check_mode, warn=warnings.append, clock=clock)
    return move, warnings, clock


def reconciler(cluster, servers, nodes=None, check_mode=False, **params):
    options = dict(servers=[dict(id=i, address=cluster_address(cluster, i), suffrage=s) for i, s in servers],
                   transfer_leadership=False, preferred_leader=None, timeout=10.0, poll_interval=1.0)
    options.update(params)
    warnings = []
    nodes = nodes or [s["id"] for s in cluster.servers]
    work = membership.Reconciler(cluster.conductors(nodes), options, check_mode=check_mode, warn=warnings.append,
                                 clock=FakeClock(cluster))
    return work, warnings


def cluster_address(cluster, node_id):
    known = [s["addr"] for s in cluster.servers if s["id"] == node_id]
    return known[0] if known else "10.0.1.%d:50050" % (ord(node_id[0]) % 200)


def refusal(run):
    with pytest.raises(rpc.Failure) as exc:
        run()
    return exc.value
