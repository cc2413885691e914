#!/usr/bin/python3
"""The simulated VPC: a network namespace holding a Linux bridge, joined to
the host by one veth pair (host side: the gateway 10.x.0.1/16 and the VPC
resolver 10.x.0.2), and one namespace per ECS task (a pause container's)
plugged into the bridge with its own address 10.x.y.z.

Security groups are enforced on the bridge: br_netfilter sends bridged IPv4
through the VPC namespace's iptables (FORWARD -> chain SKVPC), which admits
replies (conntrack), anything to or from the host side, and a NEW
connection S -> D only when a group of D admits S in its ingress rules and
a group of S allows it in its egress rules. The chain is rebuilt whole
(iptables-restore --noflush, atomic) whenever a task starts or stops or a
group's rules change.

Nothing is routed beyond the bridge and no host sysctl changes: the host
side has only the /16 on the veth. Each VPC is recorded in RECORD_DIR with
the simulator's pid, so a later simulator (or `awssim_net.py cleanup`)
removes the namespaces of dead ones.

    awssim_net.py cleanup [--owner STATE_DIR]   remove dead (or STATE_DIR's) VPCs"""

import argparse
import fcntl
import hashlib
import ipaddress
import json
import logging
import os
import socket
import struct
import subprocess
import sys
import threading

log = logging.getLogger("awssim")

RECORD_DIR = "/run/sockerless-awssim-vpc"
BRIDGE = "br0"
CHAIN = "SKVPC"
SIM_SUFFIX = "sim.internal"


def _run(*argv, check=True):
    done = subprocess.run(argv, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(argv), done.stderr.strip()))
    return done


def _batch(ip, commands):
    """ip commands in one `ip -batch -` (stops at the first failure)."""
    done = subprocess.run(list(ip) + ["-batch", "-"], input="\n".join(commands) + "\n",
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError("%s -batch failed: %s" % (" ".join(ip), done.stderr.strip()))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _used_networks():
    """IPv4 networks routed or recorded on this machine (any VPC of another
    simulator included)."""
    used = []
    for line in _run("ip", "-4", "route", "show", "table", "all").stdout.splitlines():
        word = line.split()[0] if line.split() else ""
        if word in ("default", "broadcast", "local", "unreachable", "prohibit", "blackhole"):
            word = line.split()[1] if word != "default" else "0.0.0.0/32"
        try:
            used.append(ipaddress.ip_network(word, strict=False))
        except ValueError:
            pass
    if os.path.isdir(RECORD_DIR):
        for name in os.listdir(RECORD_DIR):
            if not name.endswith(".json"):
                continue
            try:
                with open(os.path.join(RECORD_DIR, name)) as f:
                    used.append(ipaddress.ip_network(json.load(f)["cidr"]))
            except (OSError, ValueError, KeyError):
                pass
    return used


def cleanup(owner=None):
    """Remove the VPCs of simulators that are gone (and owner's, if given)."""
    if not os.path.isdir(RECORD_DIR):
        return
    for name in os.listdir(RECORD_DIR):
        if not name.endswith(".json"):
            continue
        path = os.path.join(RECORD_DIR, name)
        try:
            with open(path) as f:
                record = json.load(f)
        except (OSError, ValueError):
            continue
        if _alive(record.get("pid", 0)) and record.get("owner") != owner:
            continue
        log.info("removing the VPC namespace %s of %s", record["ns"], record.get("owner"))
        _run("ip", "netns", "delete", record["ns"], check=False)
        _run("ip", "link", "delete", record["host_if"], check=False)
        try:
            os.unlink(path)
        except OSError:
            pass


class Vpc:
    """One simulator's VPC. members maps task id -> (address, [group ids])
    for tasks whose namespace is plugged in, enis task id -> [group ids]
    for tasks that have not stopped; groups() (the EC2 service's) gives
    the groups. Lock order: rebuild_lock, then the EC2 service's lock,
    then lock."""

    def __init__(self, owner):
        self.owner = owner
        key = hashlib.sha1(owner.encode()).hexdigest()
        self.ns = "skvpc-" + key[:10]
        self.host_if = "skh" + key[:10]
        self.lock = threading.RLock()
        self.rebuild_lock = threading.Lock()
        self.members = {}
        self.enis = {}
        cleanup(owner)  # what a crashed simulator of this state directory left
        self.groups = None      # set by the EC2 service: callable -> {id: group}
        # Choosing and recording under one lock: simulators starting at
        # the same time never pick the same /16.
        os.makedirs(RECORD_DIR, exist_ok=True)
        with open(os.path.join(RECORD_DIR, ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.second = self._choose(int(key[10:14], 16))
            self.cidr = "10.%d.0.0/16" % self.second
            with open(os.path.join(RECORD_DIR, self.ns + ".json"), "w") as f:
                json.dump({"ns": self.ns, "host_if": self.host_if, "cidr": self.cidr,
                           "owner": owner, "pid": os.getpid()}, f)
        self.gateway = "10.%d.0.1" % self.second
        self.resolver = "10.%d.0.2" % self.second
        self.dns = None

    @staticmethod
    def _choose(seed):
        used = _used_networks()
        for i in range(236):
            second = 16 + (seed + i) % 236
            net = ipaddress.ip_network("10.%d.0.0/16" % second)
            if not any(net.overlaps(u) and u.prefixlen > 0 for u in used):
                return second
        raise RuntimeError("no free 10.x.0.0/16 for the simulated VPC")

    def host_name(self, address):
        return "ip-%s.ec2.internal" % address.replace(".", "-")

    # Setting up and taking down.

    def up(self):
        ns = ("ip", "-n", self.ns)
        _run("ip", "netns", "add", self.ns)
        _run(*ns, "link", "set", "lo", "up")
        _run(*ns, "link", "add", BRIDGE, "type", "bridge")
        _run(*ns, "link", "set", BRIDGE, "up")
        _run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", "host",
             "netns", self.ns)
        _run(*ns, "link", "set", "host", "master", BRIDGE)
        _run(*ns, "link", "set", "host", "up")
        _run("ip", "addr", "add", self.gateway + "/16", "dev", self.host_if)
        _run("ip", "addr", "add", self.resolver + "/16", "dev", self.host_if)
        _run("ip", "link", "set", self.host_if, "up")
        # Bridged IPv4 through iptables, in this namespace only (the
        # sysctl is per network namespace).
        _run("ip", "netns", "exec", self.ns, "sysctl", "-qw",
             "net.bridge.bridge-nf-call-iptables=1")
        self.rebuild()
        _run("ip", "netns", "exec", self.ns, "iptables", "-A", "FORWARD", "-j", CHAIN)
        self.dns = Resolver(self)
        self.dns.start()
        log.info("VPC %s in namespace %s (host side %s)", self.cidr, self.ns, self.host_if)

    def down(self):
        if self.dns is not None:
            self.dns.stop()
        cleanup(self.owner)

    # Tasks.

    def plug(self, task_id, pid, address, groups):
        """Put the task's namespace (that of process pid) on the bridge
        with address; it may talk once its rules are in."""
        tag = task_id[:10]
        outside, inside = "t" + tag, "e" + tag
        # Two batches (one process each) keep the task's start quick.
        _batch(("ip", "-n", self.ns),
               ["link add %s type veth peer name %s" % (outside, inside),
                "link set %s netns %d" % (inside, pid),
                "link set %s master %s" % (outside, BRIDGE),
                "link set %s up" % outside])
        _batch(("nsenter", "--net=/proc/%d/ns/net" % pid, "ip"),
               ["link set %s name eth0" % inside,
                "addr add %s/16 dev eth0" % address,
                "link set lo up",
                "link set eth0 up",
                "route add default via %s" % self.gateway])
        with self.lock:
            self.members[task_id] = (address, list(groups))
        self.rebuild()

    def unplug(self, task_id):
        """The task's namespace is going. Its veth is deleted here: the
        kernel frees a namespace's devices asynchronously after its last
        process exits, so the pair could otherwise outlive STOPPED for a
        while on a busy machine."""
        with self.lock:
            gone = self.members.pop(task_id, None)
        if gone is not None:
            _run("ip", "-n", self.ns, "link", "delete", "t" + task_id[:10], check=False)
            self.rebuild()

    def eni_add(self, task_id, groups):
        with self.lock:
            self.enis[task_id] = list(groups)

    def eni_remove(self, task_id):
        with self.lock:
            self.enis.pop(task_id, None)

    def groups_in_use(self):
        with self.lock:
            return {g for groups in self.enis.values() for g in groups}

    def address_live(self, address):
        with self.lock:
            return any(a == address for a, _ in self.members.values())

    # Enforcement.

    def rebuild(self):
        """Replace the SKVPC chain with the rules the groups give now."""
        with self.rebuild_lock:
            groups = self.groups() if self.groups else {}
            with self.lock:
                members = list(self.members.values())
            lines = ["*filter", ":%s - [0:0]" % CHAIN,
                     "-A %s -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT" % CHAIN]
            for host in (self.gateway, self.resolver):
                lines.append("-A %s -s %s/32 -j ACCEPT" % (CHAIN, host))
                lines.append("-A %s -d %s/32 -j ACCEPT" % (CHAIN, host))
            for src, src_groups in members:
                for dst, dst_groups in members:
                    if src != dst:
                        lines += ["-A %s -s %s/32 -d %s/32%s -j ACCEPT" % (CHAIN, src, dst, m)
                                  for m in self._matches(src, src_groups, dst, dst_groups,
                                                         groups)]
            lines += ["-A %s -j DROP" % CHAIN, "COMMIT", ""]
            done = subprocess.run(["ip", "netns", "exec", self.ns, "iptables-restore",
                                   "--noflush"], input="\n".join(lines), capture_output=True,
                                  text=True)
            if done.returncode != 0:
                raise RuntimeError("iptables-restore failed: %s" % done.stderr.strip())

    def _matches(self, src, src_groups, dst, dst_groups, groups):
        """iptables match suffixes for what S may open to D: the
        intersections of D's ingress admitting S and S's egress to D."""
        ingress = [p for g in dst_groups if g in groups
                   for p in groups[g]["IpPermissions"] if _admits(p, src, src_groups)]
        egress = [p for g in src_groups if g in groups
                  for p in groups[g]["IpPermissionsEgress"] if _admits(p, dst, dst_groups)]
        out = set()
        for a in ingress:
            for b in egress:
                match = _intersect(a, b)
                if match is not None:
                    out.add(match)
        if "" in out:
            return [""]
        return sorted(out)


def _admits(permission, address, address_groups):
    """Whether a rule's peer names this address (a CIDR holding it or a
    group it is in)."""
    ip = ipaddress.ip_address(address)
    for r in permission.get("IpRanges", []):
        try:
            if ip in ipaddress.ip_network(r["CidrIp"], strict=False):
                return True
        except (KeyError, ValueError):
            pass
    return any(pair.get("GroupId") in address_groups
               for pair in permission.get("UserIdGroupPairs", []))


PROTOCOLS = {"tcp": "6", "udp": "17", "icmp": "1", "-1": "-1", "all": "-1"}
PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp"}


def _protocol(permission):
    p = str(permission.get("IpProtocol", "-1")).lower()
    return PROTOCOLS.get(p, p)


def _intersect(a, b):
    """The iptables match for traffic both rules allow; None when none is;
    "" for everything."""
    pa, pb = _protocol(a), _protocol(b)
    if pa != "-1" and pb != "-1" and pa != pb:
        return None
    proto = pb if pa == "-1" else pa
    if proto == "-1":
        return ""
    name = PROTOCOL_NAMES.get(proto, proto)
    if name not in ("tcp", "udp"):
        return " -p %s" % name
    lo, hi = 0, 65535
    for rule in (a, b):
        if _protocol(rule) != "-1" and rule.get("FromPort", -1) != -1:
            lo = max(lo, rule["FromPort"])
            hi = min(hi, rule.get("ToPort", rule["FromPort"]))
    if lo > hi:
        return None
    if (lo, hi) == (0, 65535):
        return " -p %s" % name
    return " -p %s --dport %d:%d" % (name, lo, hi)


class Resolver(threading.Thread):
    """The VPC's DNS server on the resolver address, UDP port 53: A records
    for ip-10-x-y-z.ec2.internal of live tasks and for the names under
    sim.internal in names (upstream.sim.internal is the resolver itself);
    NXDOMAIN for everything else."""

    def __init__(self, vpc):
        super().__init__(name="vpc-dns", daemon=True)
        self.vpc = vpc
        self.names = {"upstream." + SIM_SUFFIX: vpc.resolver}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((vpc.resolver, 53))
        self.sock.settimeout(0.5)
        self._halt = threading.Event()

    def stop(self):
        self._halt.set()
        self.join(2)
        self.sock.close()

    def run(self):
        while not self._halt.is_set():
            try:
                query, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                reply = self.answer(query)
            except (ValueError, IndexError, struct.error):
                continue  # not a DNS query we can parse: drop it
            try:
                self.sock.sendto(reply, peer)
            except OSError:
                pass

    def register(self, name, address):
        """A test name: only under sim.internal, an IPv4 address."""
        name = str(name).lower().rstrip(".")
        if not name.endswith("." + SIM_SUFFIX):
            raise ValueError("only names under %s can be registered" % SIM_SUFFIX)
        ipaddress.IPv4Address(address)
        self.names[name] = address

    def lookup(self, name):
        name = name.lower().rstrip(".")
        if name in self.names:
            return self.names[name]
        if name.startswith("ip-") and name.endswith(".ec2.internal"):
            address = name[3:-len(".ec2.internal")].replace("-", ".")
            if self.vpc.address_live(address):
                return address
        return None

    def answer(self, query):
        ident, flags, qdcount = struct.unpack("!HHH", query[:6])
        if qdcount != 1:
            raise ValueError("one question expected")
        labels, i = [], 12
        while query[i]:
            labels.append(query[i + 1:i + 1 + query[i]].decode("ascii", "replace"))
            i += 1 + query[i]
        question = query[12:i + 5]
        qtype = struct.unpack("!H", query[i + 1:i + 3])[0]
        address = self.lookup(".".join(labels))
        rd = flags & 0x0100
        if address is None:
            head = struct.pack("!HHHHHH", ident, 0x8480 | rd | 3, 1, 0, 0, 0)
            return head + question
        answers = b""
        if qtype in (1, 255):  # A or ANY; AAAA and others: no data
            answers = (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4)
                       + socket.inet_aton(address))
        head = struct.pack("!HHHHHH", ident, 0x8480 | rd, 1, 1 if answers else 0, 0, 0)
        return head + question + answers


def main(argv):
    ap = argparse.ArgumentParser(description="the simulated VPC's namespaces")
    ap.add_argument("command", choices=["cleanup"])
    ap.add_argument("--owner", help="also remove this state directory's VPC")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="awssim_net: %(message)s")
    cleanup(os.path.realpath(args.owner) if args.owner else None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
