"""POST listBitLockerKeys: the BitLocker keys of a job's drives, the one answer that carries them."""

import azure.functions as func

from shared.api.http import arm_endpoint, job_key, json_response
from shared.api.rendering import bitlocker_keys
from shared.app import current_app


@arm_endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    key = job_key(req)
    return json_response(bitlocker_keys(current_app().jobs.get_job(key).job))
