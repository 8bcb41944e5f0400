"""A fake channel for the outreach tests: records every message (in memory, or appended to a file so a
dispatcher subprocess can be counted after a SIGKILL) and can refuse on demand."""

import json
import os
import time
import uuid
from pathlib import Path

from outreach.channels.base import OutgoingMessage, SendResult, SentLookup


class RecordingChannel:
    name = "fake"

    def __init__(self, serves: str = "sms", *, fail: int = 0, retryable: bool = True, path: Path | None = None,
                 delay: float = 0.0, delay_after: float = 0.0):
        self.serves = serves
        self.sent: list[OutgoingMessage] = []
        self.refused: list[OutgoingMessage] = []
        self.fail = fail  # refuse this many sends first
        self.retryable = retryable
        self.path = path
        self.delay = delay  # seconds before the provider accepts (a kill then finds nothing sent)
        self.delay_after = delay_after  # seconds after it accepted (a kill then leaves the row unrecorded)

    def send(self, message: OutgoingMessage) -> SendResult:
        if self.delay:
            time.sleep(self.delay)
        if self.fail > 0:
            self.fail -= 1
            self.refused.append(message)
            return SendResult(ok=False, error="fake refusal", retryable=self.retryable)
        provider_id = f"fake-{uuid.uuid4().hex[:12]}"
        self.sent.append(message)
        if self.path is not None:
            line = json.dumps({"key": message.key, "channel": message.channel, "to": message.to,
                               "language": message.language, "provider_id": provider_id, "pid": os.getpid()})
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        if self.delay_after:
            time.sleep(self.delay_after)
        return SendResult(ok=True, provider_id=provider_id)

    def lookup(self, query: SentLookup) -> SendResult | None:
        """What the provider knows about the message's key (the file is the provider's memory)."""
        if self.path is None or not self.path.exists():
            return None
        for line in self.path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record["key"] == query.key:
                return SendResult(ok=True, provider_id=record["provider_id"])
        return None


def from_env(config) -> dict[str, RecordingChannel]:
    """Channel factory for a dispatcher subprocess: ``--channels tests.peers.fakes:from_env``."""
    path = Path(os.environ["OUTREACH_FAKE_FILE"])
    delay = float(os.environ.get("OUTREACH_FAKE_DELAY", "0"))
    after = os.environ.get("OUTREACH_FAKE_DELAY_WHERE", "before") == "after"
    return {
        name: RecordingChannel(name, path=path, delay=0.0 if after else delay, delay_after=delay if after else 0.0)
        for name in ("sms", "voice", "email")
    }
