"""POST listBitLockerKeys: the BitLocker keys of a job's drives, the one answer that carries them."""

import azure.functions as func

from shared.http import arm_endpoint, job_key, json_response
from shared.jobs import get_service


@arm_endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    key = job_key(req)
    return json_response({"value": get_service().get_job(key).job.bitlocker_keys()})
