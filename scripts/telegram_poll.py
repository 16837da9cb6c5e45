"""Telegram without a public URL: long-poll getUpdates and hand each update to the local bot's webhook.

For development (`make telegram-poll`, beside `make serve` with the same TELEGRAM_* variables). The script
deletes the bot's webhook (Telegram refuses getUpdates while one is set), then loops getUpdates(offset,
timeout) and POSTs every update to `<RASA_URL>/webhooks/telegram/webhook` with the secret header, exactly
as Telegram does in webhook mode, so the channel has one code path for both modes. An update is confirmed
(the next offset) once the webhook answered it; errors are retried with capped exponential back-off, and
the script gives up after `--max-failures` failures in a row. Ctrl-C (or SIGTERM) stops it cleanly.

Exit codes: 0 stopped by Ctrl-C/SIGTERM, 1 gave up after repeated failures, 2 configuration problem.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import requests

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from channels.telegram import ALLOWED_UPDATES, SECRET_HEADER, WEBHOOK_PATH, TelegramConfig  # noqa: E402

logger = logging.getLogger("telegram_poll")

MAX_BACKOFF_S = 30.0


class ConfigurationError(Exception):
    """A problem retrying cannot fix (wrong token or secret, channel disabled on the server)."""


class ApiError(Exception):
    def __init__(self, method: str, code: Optional[int], description: str) -> None:
        super().__init__(f"{method}: {description}" + (f" ({code})" if code else ""))
        self.code = code


def backoff(failures: int) -> float:
    """Seconds to wait after the n-th failure in a row: 1, 2, 4, ... capped at MAX_BACKOFF_S."""
    return min(MAX_BACKOFF_S, 2.0 ** max(0, failures - 1))


class Poller:
    def __init__(self, config: TelegramConfig, rasa_url: str, poll_timeout: int, max_failures: int,
                 forward_attempts: int = 5) -> None:
        self.config = config
        self.webhook = rasa_url.rstrip("/") + WEBHOOK_PATH
        self.health = rasa_url.rstrip("/") + WEBHOOK_PATH.rsplit("/", 1)[0] + "/"
        self.poll_timeout = poll_timeout
        self.max_failures = max_failures
        self.forward_attempts = forward_attempts
        self.offset = 0
        self.http = requests.Session()

    def _hide(self, text: str) -> str:
        return text.replace(self.config.token, "<token>")

    def api(self, method: str, http_timeout: float = 10, **params: Any) -> Any:
        url = f"{self.config.api_url}/bot{self.config.token}/{method}"
        try:
            reply = self.http.post(url, json={k: v for k, v in params.items() if v is not None}, timeout=http_timeout)
            body = reply.json()
        except (requests.RequestException, ValueError) as error:
            raise ApiError(method, None, self._hide(f"{type(error).__name__}: {error}")) from None
        if not body.get("ok"):
            if body.get("error_code") in (401, 404):
                raise ConfigurationError(f"Telegram refused the token ({body.get('description')}): check TELEGRAM_TOKEN")
            raise ApiError(method, body.get("error_code"), str(body.get("description")))
        return body.get("result")

    def wait_for_bot(self, timeout: float) -> None:
        """Waits for the local Rasa server's Telegram channel; fails at once if it is disabled there."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = self.http.get(self.health, timeout=5)
                if reply.status_code == 200:
                    return
                if reply.status_code == 503:
                    reason = reply.json().get("reason", "disabled")
                    raise ConfigurationError(f"The bot's Telegram channel is disabled: {reason}. Start `make serve` "
                                             "with the same TELEGRAM_TOKEN and TELEGRAM_SECRET_TOKEN.")
                logger.warning("%s answered %s; is this the bot (RASA_URL)?", self.health, reply.status_code)
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise ConfigurationError(f"No bot at {self.health} after {timeout:.0f} s: start `make serve` first")
            logger.info("Waiting for the bot at %s ...", self.health)
            time.sleep(2)

    def forward(self, update: Dict[str, Any]) -> None:
        """POSTs one update to the webhook as Telegram would; retried a few times, then given up (logged)."""
        for attempt in range(1, self.forward_attempts + 1):
            try:
                reply = self.http.post(self.webhook, json=update, headers={SECRET_HEADER: self.config.secret_token},
                                       timeout=90)
                if reply.status_code == 200:
                    return
                if reply.status_code == 403:
                    raise ConfigurationError("The bot refused the secret token: use the same TELEGRAM_SECRET_TOKEN "
                                             "for `make serve` and `make telegram-poll`")
                if reply.status_code == 503:
                    raise ConfigurationError("The bot's Telegram channel is disabled (see its log)")
                if reply.status_code == 400:
                    logger.error("The bot refused update %s as malformed; skipping it", update.get("update_id"))
                    return
                problem = f"HTTP {reply.status_code}"
            except requests.RequestException as error:
                problem = type(error).__name__
            logger.warning("Forwarding update %s failed (%s), attempt %d/%d", update.get("update_id"), problem,
                           attempt, self.forward_attempts)
            time.sleep(backoff(attempt))
        logger.error("Gave up on update %s after %d attempts", update.get("update_id"), self.forward_attempts)

    def run(self) -> None:
        failures = 0
        while True:
            try:
                self.api("deleteWebhook")
                break
            except ApiError as error:
                failures += 1
                if failures >= self.max_failures:
                    raise
                logger.warning("deleteWebhook failed (%s); retrying in %.0f s", error, backoff(failures))
                time.sleep(backoff(failures))
        logger.info("Webhook deleted; polling Telegram (%s) for updates, forwarding to %s", self.config.api_url,
                    self.webhook)
        failures = 0
        while True:
            try:
                updates: List[Dict[str, Any]] = self.api(
                    "getUpdates", http_timeout=self.poll_timeout + 10, offset=self.offset or None,
                    timeout=self.poll_timeout, allowed_updates=ALLOWED_UPDATES)
            except ApiError as error:
                failures += 1
                if failures >= self.max_failures:
                    raise
                if error.code == 409:  # someone set a webhook again (a server with TELEGRAM_WEBHOOK_URL?)
                    logger.error("Telegram says a webhook is set; deleting it. Unset TELEGRAM_WEBHOOK_URL for "
                                 "`make serve` while polling.")
                    self._try_delete_webhook()
                logger.warning("getUpdates failed (%s); retrying in %.0f s (%d/%d)", error, backoff(failures),
                               failures, self.max_failures)
                time.sleep(backoff(failures))
                continue
            failures = 0
            for update in updates or []:
                logger.info("Update %s: %s", update.get("update_id"), ", ".join(k for k in update if k != "update_id"))
                self.forward(update)
                self.offset = int(update["update_id"]) + 1

    def _try_delete_webhook(self) -> None:
        try:
            self.api("deleteWebhook")
        except ApiError as error:
            logger.warning("deleteWebhook failed: %s", error)

    def confirm(self) -> None:
        """Tells Telegram the forwarded updates are done, so they are not delivered again next time."""
        if self.offset:
            try:
                self.api("getUpdates", offset=self.offset, timeout=0, limit=1)
            except (ApiError, ConfigurationError) as error:
                logger.warning("Could not confirm the last updates: %s", error)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rasa-url", default=os.environ.get("RASA_URL")
                        or f"http://127.0.0.1:{os.environ.get('RASA_PORT', '5005')}",
                        help="the bot's Rasa server (RASA_URL, default http://127.0.0.1:$RASA_PORT)")
    parser.add_argument("--timeout", type=int, default=int(os.environ.get("TELEGRAM_POLL_TIMEOUT", "30")),
                        help="getUpdates long-polling timeout in seconds (TELEGRAM_POLL_TIMEOUT, default 30)")
    parser.add_argument("--max-failures", type=int, default=10, help="give up after this many failures in a row")
    parser.add_argument("--wait-for-bot", type=float, default=120, help="seconds to wait for the local bot")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    config = TelegramConfig.from_env()
    problem = config.problem()
    if problem:
        logger.error("Cannot poll Telegram: %s", problem)
        return 2
    if config.webhook_url:
        logger.warning("TELEGRAM_WEBHOOK_URL is set: polling deletes that webhook. Leave it unset while polling.")

    def stop(_signal: int, _frame: Any) -> None:
        raise KeyboardInterrupt
    # SIGINT too: a process started in the background by a script inherits SIGINT ignored, and Ctrl-C
    # (or kill -INT) must still stop it cleanly.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    poller = Poller(config, arguments.rasa_url, arguments.timeout, arguments.max_failures)
    try:
        poller.wait_for_bot(arguments.wait_for_bot)
        poller.run()
    except KeyboardInterrupt:
        logger.info("Stopping; confirming the updates handled so far")
        poller.confirm()
        return 0
    except ConfigurationError as error:
        logger.error("%s", error)
        return 2
    except ApiError as error:
        logger.error("Giving up after %d failures in a row: %s", arguments.max_failures, error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
