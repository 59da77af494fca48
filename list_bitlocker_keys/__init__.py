"""POST listBitLockerKeys: the BitLocker keys of a job's drives, the one answer that carries them."""

import azure.functions as func

from shared.api.http import job_key, json_response
from shared.api.rendering import bitlocker_keys
from shared.app import current_app, endpoint
from shared.domain.access import Action, Caller


@endpoint(Action.LIST_BITLOCKER_KEYS)
def main(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    key = job_key(req)
    return json_response(bitlocker_keys(current_app().jobs.get_job(key).job))
