"""Outbound notifications to the frontend (a Bubble backend workflow), HMAC-signed."""

from drexfy.adapters.notify.http import (
    SIGNATURE_HEADER,
    HttpNotifier,
    RecordingNotifier,
    sign_notification,
    verify_notification,
)

__all__ = ["SIGNATURE_HEADER", "HttpNotifier", "RecordingNotifier", "sign_notification", "verify_notification"]
