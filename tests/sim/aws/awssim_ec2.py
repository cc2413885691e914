"""Amazon EC2 (query protocol 'ec2', 2016-11-15): the default VPC the
simulator serves, its subnet and security groups. Groups are enforced on the
VPC's bridge (awssim_net.Vpc); a group an ENI (a task that has not stopped)
uses cannot be deleted.

The ec2 protocol's input: form pairs named by each member's queryName, else
its locationName capitalised, else its name; lists are Name.N (no .member),
structures Name.Member. Answers are <OperationResponse xmlns=...> with a
requestId and the members under their locationName, lists as <item>s;
errors <Response><Errors><Error><Code>..."""

import copy
import ipaddress
import secrets
import threading
from xml.sax.saxutils import escape

from awssim_shapes import service_model, validate
from awssim_util import AwsError, iso8601

NAMESPACE = "http://ec2.amazonaws.com/doc/2016-11-15/"
PROTOCOL_NUMBERS = {"tcp": "6", "udp": "17", "icmp": "1", "icmpv6": "58"}


def not_found(group_id):
    return AwsError("InvalidGroup.NotFound",
                    "The security group '%s' does not exist" % group_id)


# Input and output in the ec2 protocol.

def _key(name, member):
    if "queryName" in member.serialization:
        return member.serialization["queryName"]
    location = member.serialization.get("name")
    return location[:1].upper() + location[1:] if location else name


def query_params(shape, form, prefix=""):
    out = {}
    for name, member in shape.members.items():
        value = _value(member, form, prefix + _key(name, member))
        if value is not None:
            out[name] = value
    return out


def _value(shape, form, key):
    kind = shape.type_name
    if kind == "structure":
        if not any(k.startswith(key + ".") for k in form):
            return None
        return query_params(shape, form, key + ".")
    if kind == "list":
        items, i = [], 1
        while any(k == "%s.%d" % (key, i) or k.startswith("%s.%d." % (key, i)) for k in form):
            items.append(_value(shape.member, form, "%s.%d" % (key, i)))
            i += 1
        return items or None
    if key not in form:
        return None
    text = form[key]
    if kind in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            return text
    if kind == "boolean":
        return {"true": True, "false": False}.get(text.lower(), text)
    return text


def xml_value(shape, value, name):
    kind = shape.type_name
    if kind == "structure":
        inner = "".join(xml_value(m, value[n], m.serialization.get("name", n))
                        for n, m in shape.members.items() if value.get(n) is not None)
        return "<%s>%s</%s>" % (name, inner, name)
    if kind == "list":
        item = shape.member.serialization.get("name", "item")
        return "<%s>%s</%s>" % (name, "".join(xml_value(shape.member, v, item)
                                              for v in value), name)
    if kind == "timestamp":
        text = iso8601(value) if isinstance(value, (int, float)) else str(value)
    elif kind == "boolean":
        text = "true" if value else "false"
    else:
        text = str(value)
    return "<%s>%s</%s>" % (name, escape(text), name)


def output_document(op_model, result, request_id):
    name = op_model.name
    inner = ""
    shape = op_model.output_shape
    if shape is not None:
        inner = "".join(xml_value(m, result[n], m.serialization.get("name", n))
                        for n, m in shape.members.items() if result.get(n) is not None)
    else:
        inner = "<return>true</return>"
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<%sResponse xmlns="%s"><requestId>%s'
            '</requestId>%s</%sResponse>' % (name, NAMESPACE, request_id, inner, name))


def error_document(code, message, request_id):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>%s</Code>'
            '<Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>'
            % (escape(code), escape(message), request_id))


def parse_input(op_model, form):
    """The validated input of a request; AwsError as EC2 answers."""
    shape = op_model.input_shape
    if shape is None:
        return {}
    params = query_params(shape, form)
    for member in shape.required_members:
        if member not in params:
            raise AwsError("MissingParameter", "The request must contain the parameter %s"
                           % _key(member, shape.members[member]))
    problems = [p for p in validate(shape, params, timestamps="any") if p.kind != "unknown"]
    if problems:
        p = problems[0]
        raise AwsError("InvalidParameterValue", "Value (%s) for parameter %s is invalid. %s"
                       % (p.value, p.path, p.message))
    return params


# Rules.

def _normal(permission):
    """A rule in the stored form: protocol by name (tcp, udp, icmp) or
    number, ports (-1 for all), its peers."""
    proto = str(permission.get("IpProtocol", "")).lower()
    if proto in ("", "all"):
        raise AwsError("InvalidParameterValue", "Invalid value '%s' for IP protocol. Unknown "
                       "protocol." % permission.get("IpProtocol", ""))
    proto = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}.get(proto, proto)
    out = {"IpProtocol": proto}
    if proto in ("tcp", "udp", "icmp", "icmpv6"):
        if "FromPort" not in permission or "ToPort" not in permission:
            if proto in ("tcp", "udp"):
                raise AwsError("InvalidParameterValue", "Invalid value 'Must specify both from "
                               "and to ports with TCP/UDP.' for portRange.")
        out["FromPort"] = permission.get("FromPort", -1)
        out["ToPort"] = permission.get("ToPort", -1)
        if proto in ("tcp", "udp") and not 0 <= out["FromPort"] <= out["ToPort"] <= 65535:
            raise AwsError("InvalidParameterValue", "Invalid value 'Invalid port range' for "
                           "portRange.")
    elif proto != "-1" and not proto.isdigit():
        raise AwsError("InvalidParameterValue", "Invalid value '%s' for IP protocol. Unknown "
                       "protocol." % proto)
    ranges = []
    for r in permission.get("IpRanges", []):
        try:
            ipaddress.ip_network(r.get("CidrIp", ""), strict=False)
        except ValueError:
            raise AwsError("InvalidParameterValue", "CIDR block %s is malformed"
                           % r.get("CidrIp")) from None
        ranges.append(dict(r))
    out["IpRanges"] = ranges
    out["UserIdGroupPairs"] = [dict(p) for p in permission.get("UserIdGroupPairs", [])]
    out["Ipv6Ranges"] = []
    out["PrefixListIds"] = []
    return out


def _peers(permission):
    """The single-peer rules a permission stands for (AWS stores and
    matches them one peer at a time)."""
    base = {k: v for k, v in permission.items()
            if k not in ("IpRanges", "UserIdGroupPairs", "Ipv6Ranges", "PrefixListIds")}
    for r in permission["IpRanges"]:
        yield dict(base, IpRanges=[r], UserIdGroupPairs=[])
    for p in permission["UserIdGroupPairs"]:
        yield dict(base, IpRanges=[], UserIdGroupPairs=[p])


def _same(a, b):
    strip = ("Description",)
    key = (lambda p: (p["IpProtocol"], p.get("FromPort"), p.get("ToPort"),
                      [{k: v for k, v in r.items() if k not in strip} for r in p["IpRanges"]],
                      [p2.get("GroupId") for p2 in p["UserIdGroupPairs"]]))
    return key(a) == key(b)


class Ec2Service:
    name = "ec2"

    def __init__(self, config, vpc):
        self.model = service_model("ec2")
        self.config = config
        self.vpc = vpc
        self.lock = threading.RLock()
        self.version = 0
        self.vpc_id = config.vpc_id
        self.subnets = {config.subnet_id: {
            "SubnetId": config.subnet_id, "VpcId": self.vpc_id, "CidrBlock": vpc.cidr,
            "AvailabilityZone": config.region + "a", "AvailabilityZoneId": "use1-az1",
            "AvailableIpAddressCount": 65000, "DefaultForAz": True,
            "MapPublicIpOnLaunch": False, "State": "available", "OwnerId": config.account,
            "SubnetArn": "arn:aws:ec2:%s:%s:subnet/%s" % (config.region, config.account,
                                                           config.subnet_id)}}
        self.groups = {}
        self._default_group(config.security_group_id)
        vpc.groups = self.snapshot_groups
        operations = {
            "CreateSecurityGroup": self.create_security_group,
            "DeleteSecurityGroup": self.delete_security_group,
            "DescribeSecurityGroups": self.describe_security_groups,
            "AuthorizeSecurityGroupIngress": self.authorize_ingress,
            "AuthorizeSecurityGroupEgress": self.authorize_egress,
            "RevokeSecurityGroupIngress": self.revoke_ingress,
            "RevokeSecurityGroupEgress": self.revoke_egress,
            "DescribeSubnets": self.describe_subnets,
            "CreateTags": self.create_tags,
            "DeleteTags": self.delete_tags,
        }
        self.operations = {name: (op if name.startswith("Describe") else self._enforced(op))
                           for name, op in operations.items()}

    def _enforced(self, op):
        """op, then the VPC's rules rebuilt (outside this service's lock:
        see awssim_net.Vpc for the lock order)."""
        def call(params, call):
            try:
                return op(params, call)
            finally:
                self.vpc.rebuild()
        return call

    def _default_group(self, group_id):
        """The VPC's default group: AWS's rules (ingress from its own
        members, all egress); with --default-group-ingress vpc (the
        default) also everything from the VPC, with none no ingress."""
        mode = getattr(self.config, "default_group_ingress", "vpc")
        ingress = []
        if mode in ("self", "vpc"):
            ingress.append({"IpProtocol": "-1", "IpRanges": [], "Ipv6Ranges": [],
                            "PrefixListIds": [], "UserIdGroupPairs": [
                                {"GroupId": group_id, "UserId": self.config.account}]})
        if mode == "vpc":
            ingress.append({"IpProtocol": "-1", "IpRanges": [{"CidrIp": self.vpc.cidr}],
                            "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": []})
        self.groups[group_id] = {
            "GroupId": group_id, "GroupName": "default", "VpcId": self.vpc_id,
            "Description": "default VPC security group", "OwnerId": self.config.account,
            "IpPermissions": ingress, "IpPermissionsEgress": [self._all_egress()], "Tags": []}

    @staticmethod
    def _all_egress():
        return {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [],
                "PrefixListIds": [], "UserIdGroupPairs": []}

    def snapshot_groups(self):
        with self.lock:
            return copy.deepcopy(self.groups)

    def _changed(self):
        self.version += 1

    def _group(self, group_id):
        group = self.groups.get(group_id)
        if group is None:
            raise not_found(group_id)
        return group

    def check_task_network(self, subnets, groups):
        """RunTask's awsvpcConfiguration, as ECS checks it: subnets and
        groups that exist, groups of the subnets' VPC."""
        with self.lock:
            for subnet in subnets:
                if subnet not in self.subnets:
                    raise AwsError("InvalidParameterException",
                                   "Error retrieving subnet information for [%s]: The subnet "
                                   "ID '%s' does not exist" % (subnet, subnet))
            vpcs = {self.subnets[s]["VpcId"] for s in subnets}
            for group in groups:
                if group not in self.groups:
                    raise AwsError("InvalidParameterException",
                                   "Error retrieving security group information for [%s]: "
                                   "The security group '%s' does not exist" % (group, group))
                if self.groups[group]["VpcId"] not in vpcs:
                    raise AwsError("InvalidParameterException",
                                   "Security group %s does not belong to the VPC of the "
                                   "subnets" % group)
            if not groups:
                return [g for g, v in self.groups.items() if v["GroupName"] == "default"
                        and v["VpcId"] in vpcs]
            return list(groups)

    # Operations.

    def create_security_group(self, params, call):
        name = params["GroupName"]
        vpc_id = params.get("VpcId", self.vpc_id)
        if name.lower().startswith("sg-"):
            raise AwsError("InvalidParameterValue", "Group names may not be in the format sg-*.")
        if len(name) > 255 or len(params["Description"]) > 255:
            raise AwsError("InvalidParameterValue", "Value for GroupName or GroupDescription "
                           "exceeds 255 characters")
        if vpc_id != self.vpc_id:
            raise AwsError("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist" % vpc_id)
        tags = []
        for spec in params.get("TagSpecifications", []):
            if spec.get("ResourceType") not in (None, "security-group"):
                raise AwsError("InvalidParameterValue", "'%s' is not a valid taggable resource "
                               "type for this operation." % spec.get("ResourceType"))
            tags += [{"Key": t.get("Key", ""), "Value": t.get("Value", "")}
                     for t in spec.get("Tags", [])]
        with self.lock:
            if any(g["GroupName"] == name and g["VpcId"] == vpc_id
                   for g in self.groups.values()):
                raise AwsError("InvalidGroup.Duplicate", "The security group '%s' already "
                               "exists for VPC '%s'" % (name, vpc_id))
            group_id = "sg-" + secrets.token_hex(9)[:17]
            self.groups[group_id] = {
                "GroupId": group_id, "GroupName": name, "VpcId": vpc_id,
                "Description": params["Description"], "OwnerId": self.config.account,
                "IpPermissions": [], "IpPermissionsEgress": [self._all_egress()],
                "Tags": tags}
            self._changed()
        out = {"GroupId": group_id}
        if tags:
            out["Tags"] = tags
        return out

    def delete_security_group(self, params, call):
        with self.lock:
            group_id = params.get("GroupId")
            if group_id is None:
                name = params.get("GroupName")
                if name is None:
                    raise AwsError("MissingParameter", "The request must contain the "
                                   "parameter GroupName or GroupId")
                found = [g for g in self.groups.values() if g["GroupName"] == name]
                if not found:
                    raise AwsError("InvalidGroup.NotFound", "The security group '%s' does not "
                                   "exist in default VPC '%s'" % (name, self.vpc_id))
                group_id = found[0]["GroupId"]
            group = self._group(group_id)
            if group["GroupName"] == "default":
                raise AwsError("CannotDelete", "the specified group: \"%s\" name: \"default\" "
                               "cannot be deleted by a user" % group_id)
            if group_id in self.vpc.groups_in_use():
                raise AwsError("DependencyViolation", "resource %s has a dependent object"
                               % group_id)
            for other in self.groups.values():
                if other is not group and any(
                        p.get("GroupId") == group_id
                        for rule in other["IpPermissions"] + other["IpPermissionsEgress"]
                        for p in rule["UserIdGroupPairs"]):
                    raise AwsError("DependencyViolation", "resource %s has a dependent object"
                                   % group_id)
            del self.groups[group_id]
            self._changed()
        return None

    def describe_security_groups(self, params, call):
        with self.lock:
            ids = params.get("GroupIds") or []
            for group_id in ids:
                self._group(group_id)
            names = params.get("GroupNames") or []
            groups = [g for g in self.groups.values()
                      if (not ids or g["GroupId"] in ids)
                      and (not names or g["GroupName"] in names)]
            for name in names:
                if not any(g["GroupName"] == name for g in groups):
                    raise AwsError("InvalidGroup.NotFound", "The security group '%s' does not "
                                   "exist in default VPC '%s'" % (name, self.vpc_id))
            for f in params.get("Filters") or []:
                groups = [g for g in groups if _filter(g, f)]
            return {"SecurityGroups": [_wire_group(g) for g in groups]}

    def _permissions(self, params):
        permissions = list(params.get("IpPermissions") or [])
        if "IpProtocol" in params or "CidrIp" in params:
            flat = {k: params[k] for k in ("IpProtocol", "FromPort", "ToPort") if k in params}
            flat.setdefault("IpProtocol", "-1")
            if "CidrIp" in params:
                flat["IpRanges"] = [{"CidrIp": params["CidrIp"]}]
            permissions.append(flat)
        if not permissions:
            raise AwsError("MissingParameter", "No IpPermissions given: the request must "
                           "contain the parameter ipPermissions")
        out = []
        for permission in permissions:
            normal = _normal(permission)
            for pair in normal["UserIdGroupPairs"]:
                if pair.get("GroupId") is None:
                    raise AwsError("MissingParameter", "The request must contain the "
                                   "parameter groupId")
                self._group(pair["GroupId"])
                pair.setdefault("UserId", self.config.account)
            if not normal["IpRanges"] and not normal["UserIdGroupPairs"]:
                raise AwsError("MissingParameter", "The request must contain the parameter "
                               "ipPermissions.ipRanges or ipPermissions.groups")
            out += list(_peers(normal))
        return out

    def _authorize(self, params, key):
        with self.lock:
            group = self._group(params["GroupId"] if "GroupId" in params
                                else self._by_name(params.get("GroupName")))
            new = self._permissions(params)
            for permission in new:
                if any(_same(permission, p) for rule in group[key] for p in _peers(rule)):
                    raise AwsError("InvalidPermission.Duplicate", "the specified rule \"peer: "
                                   "%s, %s, ALLOW\" already exists" % (_peer_text(permission),
                                                                       _proto_text(permission)))
            group[key] += new
            self._changed()
            rules = [_rule(group, p, key == "IpPermissionsEgress") for p in new]
        return {"Return": True, "SecurityGroupRules": rules}

    def _by_name(self, name):
        if name is None:
            raise AwsError("MissingParameter", "The request must contain the parameter groupId")
        for g in self.groups.values():
            if g["GroupName"] == name:
                return g["GroupId"]
        raise AwsError("InvalidGroup.NotFound", "The security group '%s' does not exist in "
                       "default VPC '%s'" % (name, self.vpc_id))

    def _revoke(self, params, key):
        with self.lock:
            group = self._group(params["GroupId"] if "GroupId" in params
                                else self._by_name(params.get("GroupName")))
            gone = self._permissions(params)
            kept = [p for rule in group[key] for p in _peers(rule)]
            for permission in gone:
                before = len(kept)
                kept = [p for p in kept if not _same(permission, p)]
                if len(kept) == before:
                    raise AwsError("InvalidPermission.NotFound", "The specified rule does not "
                                   "exist in this security group.")
            group[key] = kept
            self._changed()
        return {"Return": True}

    def authorize_ingress(self, params, call):
        return self._authorize(params, "IpPermissions")

    def authorize_egress(self, params, call):
        return self._authorize(params, "IpPermissionsEgress")

    def revoke_ingress(self, params, call):
        return self._revoke(params, "IpPermissions")

    def revoke_egress(self, params, call):
        return self._revoke(params, "IpPermissionsEgress")

    def describe_subnets(self, params, call):
        with self.lock:
            ids = params.get("SubnetIds") or []
            for subnet in ids:
                if subnet not in self.subnets:
                    raise AwsError("InvalidSubnetID.NotFound", "The subnet ID '%s' does not "
                                   "exist" % subnet)
            subnets = [s for s in self.subnets.values() if not ids or s["SubnetId"] in ids]
            for f in params.get("Filters") or []:
                subnets = [s for s in subnets if _filter(s, f)]
            return {"Subnets": copy.deepcopy(subnets)}

    def create_tags(self, params, call):
        with self.lock:
            groups = [self._group(r) for r in params["Resources"]]
            for group in groups:
                for tag in params["Tags"]:
                    group["Tags"] = [t for t in group["Tags"] if t["Key"] != tag["Key"]]
                    group["Tags"].append({"Key": tag["Key"], "Value": tag.get("Value", "")})
            self.version += 1
        return None

    def delete_tags(self, params, call):
        with self.lock:
            for group in [self._group(r) for r in params["Resources"]]:
                for tag in params.get("Tags") or []:
                    group["Tags"] = [t for t in group["Tags"] if t["Key"] != tag["Key"]
                                     or ("Value" in tag and t["Value"] != tag["Value"])]
            self.version += 1
        return None

    # Persistence.

    def snapshot(self):
        with self.lock:
            return copy.deepcopy({"groups": self.groups})

    def restore(self, state):
        with self.lock:
            default = {g: v for g, v in self.groups.items() if v["GroupName"] == "default"}
            self.groups = dict(state.get("groups", {}))
            self.groups.update(default)


def _wire_group(group):
    out = copy.deepcopy(group)
    if not out["Tags"]:
        del out["Tags"]
    return out


def _filter(obj, f):
    name, values = f.get("Name", ""), f.get("Values") or []
    if name.startswith("tag:"):
        key = name[4:]
        return any(t["Key"] == key and t["Value"] in values for t in obj.get("Tags", []))
    if name == "tag-key":
        return any(t["Key"] in values for t in obj.get("Tags", []))
    fields = {"group-id": "GroupId", "group-name": "GroupName", "vpc-id": "VpcId",
              "description": "Description", "owner-id": "OwnerId", "subnet-id": "SubnetId",
              "cidr-block": "CidrBlock", "state": "State", "availability-zone":
              "AvailabilityZone"}
    if name not in fields:
        raise AwsError("InvalidParameterValue", "The filter '%s' is invalid" % name)
    return str(obj.get(fields[name])) in values


def _peer_text(p):
    if p["IpRanges"]:
        return p["IpRanges"][0]["CidrIp"]
    return p["UserIdGroupPairs"][0]["GroupId"]


def _proto_text(p):
    if p["IpProtocol"] == "-1":
        return "ALL"
    return "%s, from port: %s, to port: %s" % (p["IpProtocol"], p.get("FromPort"),
                                               p.get("ToPort"))


def _rule(group, p, egress):
    rule = {"SecurityGroupRuleId": "sgr-" + secrets.token_hex(9)[:17],
            "GroupId": group["GroupId"], "GroupOwnerId": group["OwnerId"],
            "IsEgress": egress, "IpProtocol": p["IpProtocol"],
            "FromPort": p.get("FromPort", -1), "ToPort": p.get("ToPort", -1)}
    if p["IpRanges"]:
        rule["CidrIpv4"] = p["IpRanges"][0]["CidrIp"]
    else:
        rule["ReferencedGroupInfo"] = {"GroupId": p["UserIdGroupPairs"][0]["GroupId"],
                                       "UserId": group["OwnerId"]}
    return rule
