"""The app behind Easy Auth, as the Entra ID recipe deploys it (the dev host's HTTPS and Easy Auth in front of the app
in `entra` mode): a request without a valid token, or with a principal of its own making, is 401 and nothing is read
or written; a caller limited to some subscriptions never sees another's jobs, in a listing or through a nextLink."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
import requests

from scripts.devhost_process import DevHostProcess

from ..builders import shippable_body
from ..devhost.identity import Issuer, unsigned_token
from ..entra import ALL_ROLES, APP_ID_URI, ISSUER_URL, LIMITED_ROLE, LIMITED_SUBSCRIPTIONS

JOBS = "/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.ImportExport/jobs"
VERSION = {"api-version": "2021-01-01"}


@pytest.fixture(scope="module")
def http(behind_easy_auth) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # else a CA bundle named by the environment would win over the app's certificate
    session.verify = str(behind_easy_auth.certificate.cert)
    return session


def job_url(host, sub: str, name: str) -> str:
    return host.base_url + JOBS.format(sub=sub) + f"/{name}"


def bad_tokens(host) -> dict[str, dict[str, str]]:
    """Authorization headers Easy Auth must refuse, by what is wrong with each."""
    now = int(time.time())
    stranger = Issuer(url=ISSUER_URL, audience=APP_ID_URI)
    stranger.keys[host.issuer.kid] = stranger.keys[stranger.kid]
    stranger.kid = host.issuer.kid  # the right key id, signed with another key
    header, payload, _ = host.token(*ALL_ROLES).split(".")
    forged_payload = base64.urlsafe_b64encode(json.dumps(host.issuer.claims(roles=list(ALL_ROLES), upn="mallory")).encode())
    principal = base64.b64encode(json.dumps({"claims": [{"typ": "roles", "val": r} for r in ALL_ROLES]}).encode()).decode()
    return {
        "no token": {},
        "expired": {"Authorization": f"Bearer {host.token(*ALL_ROLES, exp=now - 3600, nbf=now - 7200, iat=now - 7200)}"},
        "wrong audience": {"Authorization": f"Bearer {host.token(*ALL_ROLES, aud='api://another-app')}"},
        "wrong issuer": {"Authorization": f"Bearer {host.token(*ALL_ROLES, iss='https://sts.windows.net/another-tenant/')}"},
        "alg none": {"Authorization": f"Bearer {unsigned_token(host.issuer.claims(roles=list(ALL_ROLES)), host.issuer.kid)}"},
        "bad signature": {"Authorization": f"Bearer {stranger.token(roles=list(ALL_ROLES))}"},
        "payload swapped": {"Authorization": f"Bearer {header}.{forged_payload.decode().rstrip('=')}.{payload[:10]}"},
        "spoofed principal": {"X-MS-CLIENT-PRINCIPAL": principal, "X-MS-CLIENT-PRINCIPAL-NAME": "mallory"},
    }


@pytest.mark.parametrize(
    "case",
    [
        "no token",
        "expired",
        "wrong audience",
        "wrong issuer",
        "alg none",
        "bad signature",
        "payload swapped",
        "spoofed principal",
    ],
)
def test_a_request_without_a_valid_token_is_401_and_writes_nothing(behind_easy_auth, http, case):
    # given a job name no one has used, and a request that Easy Auth must refuse
    host, sub = behind_easy_auth, str(uuid.uuid4())
    headers = bad_tokens(host)[case]
    # when it tries to create the job
    response = http.put(job_url(host, sub, "never"), params=VERSION, json=shippable_body(), headers=headers, timeout=30)
    # then it is 401, asking for a bearer token, and the job does not exist
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    owner = {"Authorization": f"Bearer {host.token(*ALL_ROLES)}"}
    assert http.get(job_url(host, sub, "never"), params=VERSION, headers=owner, timeout=30).status_code == 404


def test_a_valid_token_with_a_spoofed_principal_acts_as_the_token_says(behind_easy_auth, http):
    # given a reader's token, and a principal header claiming every role
    host, sub = behind_easy_auth, str(uuid.uuid4())
    spoofed = bad_tokens(host)["spoofed principal"]
    headers = {**spoofed, "Authorization": f"Bearer {host.token('ImportExport.Reader')}"}
    # when it tries to create a job, then the token's roles decide: a reader may not
    response = http.put(job_url(host, sub, "never"), params=VERSION, json=shippable_body(), headers=headers, timeout=30)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "AuthorizationFailed"


@pytest.fixture(scope="module")
def jobs(behind_easy_auth, http):
    """Three jobs in a covered subscription and three in another, created by a caller who may do everything."""
    host, home, other = behind_easy_auth, LIMITED_SUBSCRIPTIONS[0], str(uuid.uuid4())
    owner = {"Authorization": f"Bearer {host.token(*ALL_ROLES)}"}
    names = [f"j{uuid.uuid4().hex[:8]}-{i}" for i in range(3)]
    for sub in (home, other):
        for name in names:
            response = http.put(job_url(host, sub, name), params=VERSION, json=shippable_body(), headers=owner, timeout=30)
            assert response.status_code == 201
    limited = {"Authorization": f"Bearer {host.token(LIMITED_ROLE)}"}
    return host, home, other, names, limited, owner


class TestACallerLimitedToSomeSubscriptions:
    def test_its_listing_pages_stay_in_its_subscription(self, jobs, http):
        host, home, _, names, limited, _ = jobs
        seen, url, params = [], host.base_url + JOBS.format(sub=home), {**VERSION, "$top": "1"}
        while url:
            page = http.get(url, params=params, headers=limited, timeout=30)
            assert page.status_code == 200
            seen += [job["id"] for job in page.json()["value"]]
            url, params = page.json().get("nextLink"), None
            assert url is None or f"/subscriptions/{home}/" in url
        assert all(f"/subscriptions/{home}/" in job for job in seen)
        assert set(names) <= {job.rsplit("/", 1)[1] for job in seen}

    def test_it_cannot_list_or_read_another_subscription(self, jobs, http):
        host, _, other, names, limited, _ = jobs
        listing = http.get(host.base_url + JOBS.format(sub=other), params=VERSION, headers=limited, timeout=30)
        assert listing.status_code == 403 and listing.json()["error"]["code"] == "AuthorizationFailed"
        assert names[0] not in listing.text
        assert http.get(job_url(host, other, names[0]), params=VERSION, headers=limited, timeout=30).status_code == 403

    def test_another_listings_skip_token_shows_it_nothing_of_that_listing(self, jobs, http):
        # given a nextLink of the other subscription's listing, made for a caller who may read it
        host, home, other, names, limited, owner = jobs
        page = http.get(host.base_url + JOBS.format(sub=other), params={**VERSION, "$top": "1"}, headers=owner, timeout=30)
        token = page.json()["nextLink"].split("$skipToken=")[1]
        # when the limited caller sends that token to its own listing
        response = http.get(
            host.base_url + JOBS.format(sub=home), params={**VERSION, "$skipToken": token}, headers=limited, timeout=30
        )
        # then it is refused as a token this listing never gave out
        assert response.status_code == 400 and response.json()["error"]["code"] == "InvalidSkipToken"


def test_both_mode_needs_a_key_and_a_token(azurite, behind_easy_auth, tmp_path):
    # given the app in `both` mode: the host checks a Functions key (authLevel function), Easy Auth a token
    host = behind_easy_auth
    environment = {
        "IMPORTEXPORT_AUTH_MODE": "both",
        "DEVHOST_FUNCTION_KEY": "the-function-key",
        "DEVHOST_MASTER_KEY": "the-master-key",
        "DEVHOST_AUTH_ISSUER": ISSUER_URL,
        "DEVHOST_AUTH_AUDIENCES": APP_ID_URI,
        "DEVHOST_AUTH_JWKS_FILE": str(host.issuer.write_jwks(tmp_path / "jwks.json")),
    }
    arguments = ["--cert", str(host.certificate.cert), "--key", str(host.certificate.key)]
    sub = str(uuid.uuid4())
    token = {"Authorization": f"Bearer {host.token(*ALL_ROLES)}"}
    key = {"x-functions-key": "the-function-key"}
    with DevHostProcess(azurite, "Both" + uuid.uuid4().hex[:8], environment=environment, arguments=arguments) as both:
        session = requests.Session()
        session.trust_env, session.verify = False, str(host.certificate.cert)
        url = f"https://127.0.0.1:{both.port}" + JOBS.format(sub=sub) + "/j"

        def put(headers: dict[str, str]) -> int:
            return session.put(url, params=VERSION, json=shippable_body(), headers=headers, timeout=30).status_code

        # when a caller sends only a token, only a key, then both
        answers = [put(token), put(key), put({**token, **key})]
    # then only the caller with both gets in
    assert answers == [401, 401, 201]
