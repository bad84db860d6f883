"""The generation providers' errors: a branch of the one hierarchy (``photo3d_common.errors``).

Each error carries:
- ``code``: a stable machine code (it becomes ``ModelFailed.error_code``),
- ``user_message`` (= ``message``): a sentence a user can act on (it becomes ``ModelFailed.reason``),
- ``retryable``: whether running the same stage again may succeed without anyone changing anything,
- ``discard_job``: whether a stored job handle must be dropped before that re-run (the job itself is
  dead or its results are gone, so resuming it would fail again: submit a new one instead).

``str(error)`` (and ``detail``) is the technical message for logs; it never contains credentials.
"""

from __future__ import annotations

from photo3d_common.errors import Photo3DError


class ProviderError(Photo3DError):
    code = "provider_error"
    status_code = 502
    discard_job = False
    default_user_message = "3D generation failed."

    def __init__(
        self,
        message: str,
        *,
        user_message: str | None = None,
        provider: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(user_message or self.default_user_message, detail=message, retryable=retryable)
        self.args = (message,)  # str(error): the technical message, for logs
        self.technical_message = message
        self.provider = provider

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, retryable={self.retryable}, "
            f"message={self.technical_message!r})"
        )


class ProviderConfigError(ProviderError):
    """The provider is chosen but not usable as configured (e.g. a missing credential): a startup error."""

    code = "provider_misconfigured"
    default_user_message = (
        "The 3D generation service is not configured on this server; an administrator must fix it."
    )


class ProviderAuthError(ProviderError):
    """The provider refused our credentials or signature. Retrying will not help until someone fixes them."""

    code = "provider_auth_failed"
    default_user_message = (
        "The 3D generation service rejected this server's credentials; an administrator must check them."
    )


class ProviderInputError(ProviderError):
    """The provider rejected the inputs (bad parameter, unsupported image, ...)."""

    code = "provider_rejected_input"
    default_user_message = "The 3D generation service rejected the photos; try other photos of the object."


class ProviderLimitError(ProviderInputError):
    """The inputs are over the provider's limits even after re-encoding and downscaling."""

    code = "provider_input_over_limits"
    default_user_message = (
        "The photos are too large or too small for the 3D generation service, even after compression; "
        "upload photos between 128 and 5000 pixels per side."
    )


class ProviderAccountError(ProviderError):
    """The account cannot run jobs: service not activated, in arrears, quota or resource package exhausted."""

    code = "provider_account_unavailable"
    default_user_message = "The 3D generation account has no remaining quota or is not activated; an administrator must top it up."


class ProviderJobFailed(ProviderError):
    """The provider accepted the job and then reported that it failed."""

    code = "provider_job_failed"
    discard_job = True
    default_user_message = "The 3D generation service could not build a model from these photos."

    def __init__(
        self,
        error_code: str,
        error_message: str,
        *,
        user_message: str | None = None,
        provider: str | None = None,
        retryable: bool = False,
    ) -> None:
        self.error_code = error_code or "Unknown"
        self.error_message = error_message or ""
        if user_message is None:
            detail = f": {self.error_message}" if self.error_message else ""
            user_message = f"The 3D generation service could not build a model from these photos{detail}"
        super().__init__(
            f"job failed with {self.error_code}: {self.error_message}",
            user_message=user_message,
            provider=provider,
            retryable=retryable,
        )


class ProviderTimeout(ProviderError):
    """The job did not finish within the deadline (the provider may still be working on it)."""

    code = "provider_timeout"
    retryable = True
    discard_job = True

    def __init__(self, deadline_s: float, *, provider: str | None = None, job_id: str | None = None) -> None:
        self.deadline_s = deadline_s
        self.job_id = job_id
        minutes = deadline_s / 60
        shown = f"{minutes:.0f} min" if minutes >= 1 else f"{deadline_s:.1f} s"
        super().__init__(
            f"generation job {job_id or '?'} did not finish within {deadline_s:.1f} s",
            user_message=f"Generation timed out after {shown}; try again later.",
            provider=provider,
        )


class ProviderUnavailable(ProviderError):
    """Network errors, 5xx answers or throttling that outlasted our retries."""

    code = "provider_unavailable"
    retryable = True
    default_user_message = (
        "The 3D generation service is unreachable or overloaded right now; try again later."
    )


class ProviderProtocolError(ProviderUnavailable):
    """The provider answered something that does not follow its documented protocol."""

    code = "provider_bad_response"
    default_user_message = "The 3D generation service answered unexpectedly; try again later."


class ResultExpired(ProviderError):
    """The job's result (or the job itself) is gone: an expired or broken result URL, an unknown job id.

    The job cannot be resumed; a re-run must submit a new one.
    """

    code = "provider_result_expired"
    retryable = True
    discard_job = True
    default_user_message = (
        "The generated model could no longer be downloaded from the 3D service; run generation again."
    )
