"""Logging: rotating file, stderr only when there is one, secrets masked."""

from __future__ import annotations

import logging
import sys

from veracity_connector.logging_setup import LOG_FILE_NAME, configure_logging


def test_windowed_build_without_stderr_still_logs_to_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stderr", None)
    log_file = configure_logging(tmp_path / "logs", "INFO")
    try:
        logging.getLogger("client.test").info("hello from a windowed build")
        for handler in logging.getLogger().handlers:
            handler.flush()
        assert log_file == tmp_path / "logs" / LOG_FILE_NAME
        assert "hello from a windowed build" in log_file.read_text()
    finally:
        configure_logging(None, "WARNING", to_stderr=False)


def test_key_and_token_shapes_are_masked(tmp_path):
    log_file = configure_logging(tmp_path, "INFO", to_stderr=False)
    try:
        key = "vck_" + "Z" * 43
        logging.getLogger("client.test").info("oops %s and vct_abcdefgh12345678", key)
        for handler in logging.getLogger().handlers:
            handler.flush()
        text = log_file.read_text()
        assert key not in text and "vct_abcdefgh" not in text
        assert "vck_***" in text and "vct_***" in text
    finally:
        configure_logging(None, "WARNING", to_stderr=False)


def test_a_flex_token_in_a_logged_url_is_masked(tmp_path):
    log_file = configure_logging(tmp_path, "DEBUG", to_stderr=False)
    try:
        token = "463927185020316478529401"
        logging.getLogger("urllib3.fake").warning(
            '"GET /AccountManagement/FlexWebService/SendRequest?t=%s&q=987654&v=3 HTTP/1.1" 200',
            token)
        logging.getLogger("client.test").info("statement at https://x/GetStatement?q=1&t=%s", token)
        for handler in logging.getLogger().handlers:
            handler.flush()
        text = log_file.read_text()
        assert token not in text
        assert text.count("t=***") == 2 and "q=987654" in text
    finally:
        configure_logging(None, "WARNING", to_stderr=False)
