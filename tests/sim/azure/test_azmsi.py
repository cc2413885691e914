"""Microsoft.ManagedIdentity on the simulator (azuresim_msi.py) and the
user-assigned identities of Microsoft.Web sites: an identity made with PUT
and read back in Azure's shape, 404 in ARM's shape for an unknown one, the
api-version and body checks; a site naming an identity that does not
exist, or an acrUserManagedIdentityID that is not the clientId of one of
its identities, refused with Azure's errors; and (with the test bed's
engine) a site pulling its private ACR image with the identity, refused
once the identity is gone."""

import pytest

from azweb_testlib import RG, SUB, HttpError, echo_image, needs_engine, websim  # noqa: F401

API = "2023-01-31"
MSI = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.ManagedIdentity/" \
    "userAssignedIdentities" % (SUB, RG)
ACR = "sockerless.azurecr.io/"


def make_identity(websim, name):
    return websim.arm("PUT", MSI + "/" + name, {"location": "westeurope"}, api=API)


def site_with(websim, image, uid, client_id, **config):
    body = websim.site_body(image, acrUseManagedIdentityCreds=True,
                            acrUserManagedIdentityID=client_id, **config)
    body["identity"] = {"type": "UserAssigned", "userAssignedIdentities": {uid: {}}}
    return body


def test_identity_put_get_delete(websim):
    status, ident, _ = make_identity(websim, "msi-one")
    assert status == 201
    assert ident["id"] == MSI + "/msi-one"
    assert ident["name"] == "msi-one"
    assert ident["type"] == "Microsoft.ManagedIdentity/userAssignedIdentities"
    assert ident["location"] == "westeurope"
    props = ident["properties"]
    assert set(props) == {"tenantId", "principalId", "clientId"}
    assert all(len(v) == 36 for v in props.values())
    # again: 200, the same ids
    status, again, _ = make_identity(websim, "msi-one")
    assert status == 200 and again["properties"] == props
    assert websim.arm("GET", MSI + "/MSI-ONE", api=API)[1] == ident
    assert "msi-one" in [i["name"] for i in websim.arm("GET", MSI, api=API)[1]["value"]]
    assert websim.arm("DELETE", MSI + "/msi-one", api=API)[0] == 200
    assert websim.arm("DELETE", MSI + "/msi-one", api=API)[0] == 204


def test_identity_errors(websim):
    with pytest.raises(HttpError) as exc:
        websim.arm("GET", MSI + "/nope", api=API)
    assert exc.value.status == 404
    err = exc.value.body["error"]
    assert err["code"] == "ResourceNotFound"
    assert "Microsoft.ManagedIdentity/userAssignedIdentities/nope" in err["message"]
    with pytest.raises(HttpError) as exc:
        websim.arm("GET", MSI + "/nope", api="2019-01-01")
    assert exc.value.status == 400 and "2023-01-31" in exc.value.body["error"]["message"]
    with pytest.raises(HttpError) as exc:
        websim.arm("PUT", MSI + "/no-location", {}, api=API)
    assert exc.value.body["error"]["code"] == "LocationRequired"
    with pytest.raises(HttpError) as exc:
        make_identity(websim, "-x")
    assert exc.value.body["error"]["code"] == "InvalidResourceName"


def test_site_identity_checks(websim):
    _, ident, _ = make_identity(websim, "msi-site")
    cid = ident["properties"]["clientId"]
    image = "sockerless.azurecr.io/web/none:v1"
    # an identity that does not exist
    with pytest.raises(HttpError) as exc:
        websim.create_site("msi-bad", site_with(websim, image, MSI + "/gone", cid))
    assert exc.value.status == 400
    assert exc.value.body["error"]["code"] == "FailedIdentityOperation"
    assert MSI + "/gone" in exc.value.body["error"]["message"]
    # not a full id
    with pytest.raises(HttpError) as exc:
        websim.create_site("msi-bad", site_with(websim, image, "msi-site", cid))
    assert "Invalid user assigned identity resource id" in exc.value.body["error"]["message"]
    # acrUserManagedIdentityID that no identity of the site has
    with pytest.raises(HttpError) as exc:
        websim.create_site("msi-bad", site_with(websim, image, ident["id"],
                                                "00000000-0000-0000-0000-000000000001"))
    err = exc.value.body["error"]
    assert err["code"] == "BadRequest"
    assert err["target"] == "properties.siteConfig.acrUserManagedIdentityID"
    body = site_with(websim, image, ident["id"], cid)
    body["identity"]["type"] = "SystemAssigned"
    with pytest.raises(HttpError) as exc:
        websim.create_site("msi-bad", body)
    assert exc.value.body["error"]["target"] == "identity.userAssignedIdentities"
    # right: the site's identity carries the identity's ids
    site = websim.create_site("msi-good", site_with(websim, image, ident["id"], cid))
    assert site["identity"]["userAssignedIdentities"][ident["id"]] == {
        "principalId": ident["properties"]["principalId"], "clientId": cid}
    assert site["properties"]["siteConfig"]["acrUserManagedIdentityID"] == cid
    # a PUT without the identity block keeps the site's
    body = site_with(websim, image, ident["id"], cid)
    del body["identity"]
    site = websim.create_site("msi-good", body)
    assert list(site["identity"]["userAssignedIdentities"]) == [ident["id"]]
    with pytest.raises(HttpError) as exc:
        websim.web("PATCH", "/sites/msi-good/config/web", {"properties": {
            "acrUserManagedIdentityID": "00000000-0000-0000-0000-000000000002"}})
    assert exc.value.status == 400
    websim.web("DELETE", "/sites/msi-good")


@needs_engine
def test_site_pulls_with_its_identity(websim):
    _, ident, _ = make_identity(websim, "msi-pull")
    cid = ident["properties"]["clientId"]
    body = site_with(websim, ACR + echo_image("v1"), ident["id"], cid)
    websim.create_site("msi-pull", body)
    status, text, _ = websim.wait_front("msi-pull")
    assert status == 201, text
    assert "site msi-pull: pulling %s with the user-assigned identity %s (clientId %s)" % (
        ACR + echo_image("v1"), ident["id"], cid) in websim.log_text()
    # the identity deleted: the next pull is refused
    websim.arm("DELETE", MSI + "/msi-pull", api=API)
    websim.web("POST", "/sites/msi-pull/restart")
    status, text, _ = websim.wait_front("msi-pull")
    assert status == 503 and "no identity of the site has the clientId " + cid in text, text
    websim.web("DELETE", "/sites/msi-pull")
