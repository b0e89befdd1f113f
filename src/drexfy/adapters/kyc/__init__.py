"""KYC/AML providers: Sumsub (`kyc.kind = "sumsub"`). The sandbox provider lives in
`drexfy.adapters.sandbox`; webhook digests are checked in `drexfy.adapters.webhooks`."""

from drexfy.adapters.kyc.sumsub import SumsubConfig, SumsubKyc, sign_request
from drexfy.adapters.kyc.sumsub_webhooks import parse_sumsub

__all__ = ["SumsubConfig", "SumsubKyc", "parse_sumsub", "sign_request"]
