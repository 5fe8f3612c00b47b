"""The OASIS TAXII 2.1 client (taxii2-client, pinned in requirements.txt) against a running
`tocsin serve`: discovery, collections, adding objects and polling their status, every
filter, paging 2,500 objects with limit=100, versions, manifest, deletion, and what partners
with and without rights see. Raw requests check the HTTP rules the client does not exercise
(406, 415, 413, 401, unknown routes).

Run by crates/cli/tests/taxii.rs:

    client_check.py URL ANALYST_TOKEN WRITER_TOKEN READER_TOKEN OUTSIDER_TOKEN

URL is the server's discovery URL. The tokens are an analyst's and three partners':
`writer` reads and writes the collection `shared`, `reader` only reads it, `outsider`
has no rights; the collection `restricted` names none of them. Prints one summary line and
exits non-zero on any failed check.
"""

import json
import sys
import traceback
import uuid

import requests
from taxii2client.common import TokenAuth
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

MEDIA = "application/taxii+json;version=2.1"
BULK = 2500
LATE = 10


class Checks:
    """Counts checks; remembers the failures."""

    def __init__(self):
        self.passed = 0
        self.failed = []

    def __call__(self, condition, label):
        if condition:
            self.passed += 1
        else:
            self.failed.append(label)
            print("FAILED: " + label, file=sys.stderr)
        return condition

    def raises(self, status, label, call):
        """Checks that call() fails with an HTTP error of `status`."""
        try:
            call()
        except requests.exceptions.HTTPError as error:
            got = error.response.status_code
            return self(got == status, "{}: HTTP {} (wanted {})".format(label, got, status))
        except Exception as error:  # noqa: BLE001 - any other failure is a failed check
            return self(False, "{}: {!r}".format(label, error))
        return self(False, label + ": no error")


def stamp(day, hour=0):
    return "2024-01-{:02d}T{:02d}:00:00.000Z".format(day, hour)


def indicator(number, modified, created=stamp(1)):
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--{}".format(uuid.uuid5(uuid.NAMESPACE_URL, "tocsin/{}".format(number))),
        "created": created,
        "modified": modified,
        "name": "address {}".format(number),
        "pattern": "[ipv4-addr:value = '203.0.113.{}']".format(number % 250),
        "pattern_type": "stix",
        "valid_from": created,
    }


def identity(number):
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": "identity--{}".format(uuid.uuid5(uuid.NAMESPACE_URL, "bulk/{}".format(number))),
        "created": stamp(2),
        "modified": stamp(2),
        "name": "bulk {}".format(number),
        "identity_class": "organization",
    }


def malware():
    return {
        "type": "malware",
        "spec_version": "2.1",
        "id": "malware--{}".format(uuid.uuid5(uuid.NAMESPACE_URL, "tocsin/malware")),
        "created": stamp(1),
        "modified": stamp(1),
        "name": "stealer",
        "is_family": False,
    }


def ids_of(envelope):
    return [obj["id"] for obj in envelope.get("objects", [])]


def modified_of(envelope):
    return sorted(obj["modified"] for obj in envelope.get("objects", []))


def discover(check, url, analyst):
    server = Server(url, auth=TokenAuth(analyst))
    check(server.title == "tocsin TAXII server", "discovery title: " + repr(server.title))
    check(len(server.api_roots) == 1, "one API root")
    root = server.default or server.api_roots[0]
    check(root.url.endswith("/tocsin/"), "API root URL " + root.url)
    check(MEDIA in root.versions, "API root speaks TAXII 2.1")
    check(root.max_content_length == 1048576, "max_content_length advertised")
    names = sorted(c.alias for c in root.collections)
    check(names == ["restricted", "shared"], "the analyst sees both collections: {}".format(names))
    return root


def collection_of(root, alias):
    return next(c for c in root.collections if c.alias == alias)


def partner_root(root_url, name, token):
    return ApiRoot(root_url, user=name, password=token)


def add_and_poll(check, shared):
    objects = [indicator(1, stamp(2)), indicator(2, stamp(2)), malware()]
    bad = {"type": "indicator", "spec_version": "2.0", "id": "indicator--" + str(uuid.uuid4())}
    status = shared.add_objects({"objects": objects + [bad]}, wait_for_completion=True, poll_interval=0.2)
    check(status.status == "complete", "add: status complete")
    check(status.total_count == 4 and status.success_count == 3, "add: 3 of 4 added")
    check(status.failure_count == 1 and status.failures[0].get("message"), "add: the 2.0 object failed with a message")
    again = ApiRoot(shared.url.rsplit("/collections/", 1)[0] + "/", conn=shared._conn).get_status(status.id)
    check(again.id == status.id and again.success_count == 3, "status polled by id")
    # Two more versions of indicator 1, in separate requests (each its own date added).
    for day in (3, 4):
        shared.add_objects({"objects": [indicator(1, stamp(day))]}, poll_interval=0.2)
    # Re-adding a version changes nothing.
    same = shared.add_objects({"objects": [indicator(1, stamp(3))]}, poll_interval=0.2)
    check(same.success_count == 1, "re-adding a version succeeds")


def filters(check, shared):
    first_id = indicator(1, stamp(2))["id"]
    everything = shared.get_objects()
    check(len(everything["objects"]) == 3, "default: the latest version of each object ({})".format(len(everything["objects"])))
    check(sorted(ids_of(shared.get_objects(id=first_id))) == [first_id], "match[id]")
    check(modified_of(shared.get_objects(id=first_id)) == [stamp(4)], "match[version] default last")
    check(modified_of(shared.get_objects(id=first_id, version="first")) == [stamp(2)], "match[version]=first")
    check(modified_of(shared.get_objects(id=first_id, version="last")) == [stamp(4)], "match[version]=last")
    check(modified_of(shared.get_objects(id=first_id, version="all")) == [stamp(2), stamp(3), stamp(4)], "match[version]=all")
    check(modified_of(shared.get_objects(id=first_id, version=stamp(3))) == [stamp(3)], "match[version]=timestamp")
    check(modified_of(shared.get_objects(id=first_id, version="first," + stamp(3))) == [stamp(2), stamp(3)], "match[version] list")
    types = [o["type"] for o in shared.get_objects(type="malware")["objects"]]
    check(types == ["malware"], "match[type]=malware")
    check(len(shared.get_objects(type=["malware", "indicator"])["objects"]) == 3, "match[type] list")
    check(len(shared.get_objects(spec_version="2.1")["objects"]) == 3, "match[spec_version]=2.1")
    check(not shared.get_objects(spec_version="2.0").get("objects"), "match[spec_version]=2.0 is empty")
    manifest = shared.get_manifest()["objects"]
    check(len(manifest) == 3, "manifest lists the latest versions")
    check(all(r["media_type"] == "application/stix+json;version=2.1" and r["date_added"] for r in manifest), "manifest records")
    by_date = sorted(manifest, key=lambda r: r["date_added"])
    check([r["date_added"] for r in manifest] == [r["date_added"] for r in by_date], "manifest ordered by date added")
    after = shared.get_objects(added_after=by_date[0]["date_added"])
    check(len(after["objects"]) == 2, "added_after skips the first added ({})".format(len(after["objects"])))
    check(len(shared.get_manifest(id=first_id, version="all")["objects"]) == 3, "manifest with match[version]=all")
    one = shared.get_object(first_id)
    check(modified_of(one) == [stamp(4)], "get an object: latest version")
    check(len(shared.get_object(first_id, version="all")["objects"]) == 3, "get an object: all versions")
    versions = shared.object_versions(first_id)["versions"]
    check(versions == [stamp(2), stamp(3), stamp(4)], "versions: {}".format(versions))
    check(shared.object_versions(first_id, limit=2)["more"] is True, "versions page with more")
    check.raises(404, "get an absent object", lambda: shared.get_object("indicator--" + str(uuid.uuid4())))


def paginate(check, shared):
    for start in range(0, BULK, 500):
        status = shared.add_objects({"objects": [identity(n) for n in range(start, start + 500)]}, poll_interval=0.2)
        check(status.success_count == 500, "bulk add of 500")
    seen, pages, duplicates, oversized = set(), 0, 0, 0
    for envelope in as_pages(shared.get_objects, per_request=100, type="identity"):
        pages += 1
        objects = envelope.get("objects", [])
        oversized += len(objects) > 100
        for obj in objects:
            duplicates += obj["id"] in seen
            seen.add(obj["id"])
        if pages == 3:
            # Added while paging: they come at the end, once.
            late = [identity(n) for n in range(BULK, BULK + LATE)]
            shared.add_objects({"objects": late}, poll_interval=0.2)
    check(duplicates == 0, "paging: no object twice ({} duplicates)".format(duplicates))
    check(oversized == 0, "paging: no page above limit=100")
    check(len(seen) == BULK + LATE, "paging: every object once ({} of {})".format(len(seen), BULK + LATE))
    check(pages == (BULK + LATE + 99) // 100, "paging: {} pages".format(pages))
    records = 0
    for manifest in as_pages(shared.get_manifest, per_request=1000, type="identity"):
        records += len(manifest.get("objects", []))
    check(records == BULK + LATE, "manifest paging: {} records".format(records))
    return pages


def delete(check, shared, reader_shared):
    target = malware()["id"]
    check.raises(403, "a reader cannot delete", lambda: reader_shared._conn.delete(
        reader_shared.objects_url + target + "/", headers={"Accept": MEDIA}))
    shared.delete_object(target)
    check.raises(404, "a deleted object is gone", lambda: shared.get_object(target))
    first_id = indicator(1, stamp(2))["id"]
    shared.delete_object(first_id, version="first")
    versions = shared.object_versions(first_id)["versions"]
    check(versions == [stamp(3), stamp(4)], "delete match[version]=first: {}".format(versions))


def partners(check, root_url, tokens, restricted_url):
    writer = partner_root(root_url, "writer", tokens["writer"])
    names = [(c.alias, c.can_read, c.can_write) for c in writer.collections]
    check(names == [("shared", True, True)], "writer sees shared, read and write: {}".format(names))
    reader = partner_root(root_url, "reader", tokens["reader"])
    names = [(c.alias, c.can_read, c.can_write) for c in reader.collections]
    check(names == [("shared", True, False)], "reader sees shared, read only: {}".format(names))
    outsider = partner_root(root_url, "outsider", tokens["outsider"])
    check(outsider.collections == [], "outsider sees no collection")
    hidden = Collection(restricted_url, user="outsider", password=tokens["outsider"])
    check.raises(404, "outsider: the restricted collection is absent", hidden.refresh)
    check.raises(404, "outsider: its objects are absent", lambda: hidden._conn.get(
        restricted_url + "objects/", headers={"Accept": MEDIA}))
    check.raises(404, "outsider: its manifest is absent", lambda: hidden._conn.get(
        restricted_url + "manifest/", headers={"Accept": MEDIA}))
    shared_url = root_url + "collections/shared/"
    check.raises(404, "outsider: shared is absent too", lambda: Collection(
        shared_url, user="outsider", password=tokens["outsider"]).refresh())
    raw = requests.post(restricted_url + "objects/", auth=("reader", tokens["reader"]),
                        headers={"Accept": MEDIA, "Content-Type": MEDIA}, data=b'{"objects": []}')
    check(raw.status_code == 404, "reader: POST to restricted is 404, not 403")
    raw = requests.post(shared_url + "objects/", auth=("reader", tokens["reader"]),
                        headers={"Accept": MEDIA, "Content-Type": MEDIA}, data=b'{"objects": []}')
    check(raw.status_code == 403, "reader: POST to shared is 403")
    wrong_user = requests.get(root_url + "collections/", auth=("writer", tokens["reader"]), headers={"Accept": MEDIA})
    check(wrong_user.status_code == 401, "Basic with another token's name is 401")
    check(requests.get(root_url.rsplit("/tocsin/", 1)[0] + "/api/v1/incidents",
                       headers={"Authorization": "Bearer " + tokens["writer"]}).status_code == 403,
          "a partner gets 403 under /api/v1")
    return Collection(shared_url, user="reader", password=tokens["reader"])


def taxii_error(check, response, status, label):
    check(response.status_code == status, "{}: HTTP {} (wanted {})".format(label, response.status_code, status))
    check(response.headers.get("Content-Type") == MEDIA, label + ": TAXII content type")
    try:
        body = response.json()
    except ValueError:
        body = {}
    check(bool(body.get("title")) and body.get("http_status") == str(status), label + ": TAXII error message")


def raw_http(check, root_url, analyst):
    bearer = {"Authorization": "Bearer " + analyst}
    objects_url = root_url + "collections/shared/objects/"
    taxii_error(check, requests.get(objects_url, headers=dict(bearer, Accept="application/json")), 406, "wrong Accept")
    ok = requests.get(objects_url, headers=dict(bearer, Accept="application/taxii+json"), params={"limit": 1})
    check(ok.status_code == 200 and ok.headers.get("Content-Type") == MEDIA, "versionless Accept")
    check("X-TAXII-Date-Added-First" in ok.headers and "X-TAXII-Date-Added-Last" in ok.headers, "date-added headers")
    body = json.dumps({"objects": []})
    wrong_type = dict(bearer, **{"Accept": MEDIA, "Content-Type": "application/json"})
    taxii_error(check, requests.post(objects_url, headers=wrong_type, data=body), 415, "wrong Content-Type")
    large = b'{"objects": [' + b" " * (1048576 + 10) + b"]}"
    taxii_error(check, requests.post(objects_url, headers=dict(bearer, **{"Accept": MEDIA, "Content-Type": MEDIA}),
                                     data=large), 413, "too large")
    missing = requests.get(root_url + "collections/", headers={"Accept": MEDIA})
    taxii_error(check, missing, 401, "no credentials")
    check("Basic" in missing.headers.get("WWW-Authenticate", ""), "401 with WWW-Authenticate")
    taxii_error(check, requests.get(root_url + "nothing/here/", headers=bearer), 404, "unknown route")
    taxii_error(check, requests.get(objects_url, headers=bearer, params={"limit": "ten"}), 400, "bad limit")
    taxii_error(check, requests.get(objects_url, headers=bearer, params={"match[version]": "newest"}), 400, "bad match[version]")
    taxii_error(check, requests.put(objects_url, headers=bearer), 405, "wrong method")
    no_slash = requests.get(root_url + "collections", headers=dict(bearer, Accept=MEDIA))
    check(no_slash.status_code == 200, "no trailing slash")


def main(argv):
    url, analyst, writer, reader, outsider = argv[1:6]
    tokens = {"writer": writer, "reader": reader, "outsider": outsider}
    check = Checks()
    pages = 0
    try:
        root = discover(check, url, analyst)
        restricted_url = collection_of(root, "restricted").url
        writer_shared = collection_of(partner_root(root.url, "writer", writer), "shared")
        add_and_poll(check, writer_shared)
        filters(check, writer_shared)
        pages = paginate(check, writer_shared)
        reader_shared = partners(check, root.url, tokens, restricted_url)
        delete(check, writer_shared, reader_shared)
        raw_http(check, root.url, analyst)
    except Exception:  # noqa: BLE001 - an unexpected failure fails the run with its trace
        traceback.print_exc()
        check(False, "unexpected exception")
    print("taxii2-client {} against tocsin: {} checks passed, {} failed; {} objects paged in {} pages of 100".format(
        __import__("taxii2client").__version__, check.passed, len(check.failed), BULK + LATE, pages))
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
