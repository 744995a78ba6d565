"""The SMTP state machine on its own: bytes in, events and replies out, no sockets.

A small driver plays the service: it accepts RCPT for `*@live.test`, refuses others with
550, and answers each message with `250 queued` (or whatever a test sets), recording the
events it was asked to decide.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ephemail.mail.smtp import events as smtp
from ephemail.mail.smtp.protocol import ServerConnection
from ephemail.mail.smtp.syntax import path_and_params, read_path_and_params

REPLY = re.compile(rb"^[2-5]\d\d[ -][\x20-\x7e]*\r\n$")
LIMITS = smtp.ProtocolLimits(
    hostname="mx.test",
    max_message_size=10_000,
    max_recipients=5,
    max_unknown_recipients=3,
    data_line_limit=2_000,
)


class GeneralReading(ServerConnection[str]):
    hot_commands = None


@dataclass
class Driver:
    limits: smtp.ProtocolLimits = LIMITS
    tls: bool = False
    conn: ServerConnection[str] = field(init=False)
    events: list[object] = field(default_factory=list)
    message_reply: str = "250 2.0.0 queued"
    mail_reply: str = "250 2.1.0 OK"
    decide: bool = True  # False: leave events pending
    general_only: bool = False  # True: no HOT_COMMANDS shortcut, every line read in full

    def __post_init__(self) -> None:
        kind = GeneralReading if self.general_only else ServerConnection
        self.conn = kind(self.limits, tls=self.tls)
        self.conn.greet()

    def feed(self, data: bytes) -> list[bytes]:
        """Feed bytes, answer what is asked; the reply lines that came out."""
        self.conn.receive_data(data)
        self.run()
        return self.replies()

    def run(self) -> None:
        while self.decide and (event := self.conn.next_event()) is not None:
            self.events.append(event)
            if isinstance(event, smtp.MailFrom):
                self.conn.answer(self.mail_reply)
            elif isinstance(event, smtp.RcptTo):
                if event.address.endswith("@live.test"):
                    self.conn.accept_recipient(event.address)
                else:
                    self.conn.answer("550 5.1.1 No such mailbox here")
            elif isinstance(event, smtp.Message):
                self.conn.answer(self.message_reply)
            else:
                break  # StartTls: the test completes it
        if not self.decide:
            self.conn.next_event()

    def replies(self) -> list[bytes]:
        out = self.conn.data_to_send()
        lines = out.split(b"\r\n")
        assert lines[-1] == b""
        for line in lines[:-1]:
            assert REPLY.match(line + b"\r\n"), line
        return [line for line in lines[:-1]]

    def codes(self, data: bytes) -> list[int]:
        return [int(line[:3]) for line in self.feed(data) if line[3:4] == b" "]

    def messages(self) -> list[smtp.Message[str]]:
        return [e for e in self.events if isinstance(e, smtp.Message)]


def ready(**kwargs: object) -> Driver:
    driver = Driver(**kwargs)  # type: ignore[arg-type]
    assert driver.replies() == [b"220 mx.test ESMTP"]
    assert driver.codes(b"EHLO client.test\r\n") == [250]
    return driver


TRANSACTION = b"MAIL FROM:<a@example.org>\r\nRCPT TO:<box@live.test>\r\nDATA\r\n"


# --- commands ---------------------------------------------------------------------------


def test_ehlo_lists_the_extensions_in_one_multiline_reply() -> None:
    driver = Driver()
    driver.replies()
    lines = driver.feed(b"EHLO client.test\r\n")
    assert lines[0] == b"250-mx.test"
    assert lines[-1] == b"250 HELP"
    keywords = {line[4:].split(b" ")[0] for line in lines[1:]}
    assert {b"SIZE", b"8BITMIME", b"SMTPUTF8", b"PIPELINING", b"ENHANCEDSTATUSCODES"} <= keywords
    assert b"250-SIZE 10000" in lines
    assert b"STARTTLS" not in keywords  # no certificate, no offer


def test_helo_and_ehlo_need_a_name() -> None:
    driver = Driver()
    driver.replies()
    assert driver.codes(b"EHLO\r\nHELO\r\nHELO client.test\r\n") == [501, 501, 250]


def test_a_whole_transaction_gives_the_message_unstuffed() -> None:
    driver = ready()
    body = b"Subject: x\r\n\r\n..leading dot\r\n.\r\nnot the end\r\n"
    stuffed = body.replace(b"\r\n.", b"\r\n..")
    codes = driver.codes(TRANSACTION + stuffed + b".\r\nQUIT\r\n")
    assert codes == [250, 250, 354, 250, 221]
    (message,) = driver.messages()
    assert (message.sender, message.recipients) == ("a@example.org", ["box@live.test"])
    assert message.data == body
    assert driver.conn.closing and driver.conn.state is smtp.State.CLOSED


def test_a_dot_at_the_very_start_of_data_is_unstuffed() -> None:
    driver = ready()
    driver.codes(TRANSACTION + b"..first\r\n.\r\n")
    assert driver.messages()[0].data == b".first\r\n"


def test_an_empty_message_ends_at_once() -> None:
    driver = ready()
    assert driver.codes(TRANSACTION + b".\r\n") == [250, 250, 354, 250]
    assert driver.messages()[0].data == b""


def test_only_crlf_dot_crlf_ends_data() -> None:
    driver = ready()
    assert driver.codes(TRANSACTION + b"a\n.\nb\r.\rc\r\n.x\r\n") == [250, 250, 354]
    assert driver.conn.state is smtp.State.DATA
    assert driver.codes(b".\r\n") == [250]
    assert driver.messages()[0].data == b"a\n.\nb\r.\rc\r\nx\r\n"


def test_mail_parameters() -> None:
    driver = ready()
    assert driver.codes(b"MAIL FROM:<a@example.org> SIZE=10001\r\n") == [552]
    assert driver.codes(b"MAIL FROM:<a@example.org> SIZE=big\r\n") == [501]
    assert driver.codes(b"MAIL FROM:<a@example.org> BODY=BINARYMIME\r\n") == [501]
    assert driver.codes(b"MAIL FROM:<a@example.org> SMTPUTF8=yes\r\n") == [501]
    assert driver.codes(b"MAIL FROM:<a@example.org> FOO=BAR\r\n") == [555]
    line = b"MAIL FROM:<a@example.org> SIZE=100 BODY=8BITMIME SMTPUTF8\r\n"
    assert driver.codes(line) == [250]
    event = driver.events[-1]
    assert isinstance(event, smtp.MailFrom)
    assert event.size == 100 and event.params == {"SIZE": "100", "BODY": "8BITMIME", "SMTPUTF8": ""}


def test_mail_parameters_need_ehlo() -> None:
    driver = Driver()
    driver.replies()
    driver.codes(b"HELO client.test\r\n")
    assert driver.codes(b"MAIL FROM:<a@example.org> SIZE=10\r\n") == [555]
    assert driver.codes(b"MAIL FROM:<a@example.org>\r\n") == [250]


@pytest.mark.parametrize(
    ("arg", "address"),
    [
        (b"FROM:<>", ""),
        (b"from: <a@example.org>", "a@example.org"),
        (b"FROM:a@example.org", "a@example.org"),
        (b"FROM:<@relay.example:a@example.org>", "a@example.org"),
        (b'FROM:<"a b"@example.org>', '"a b"@example.org'),
    ],
)
def test_mail_paths(arg: bytes, address: str) -> None:
    driver = ready()
    assert driver.codes(b"MAIL " + arg + b"\r\n") == [250]
    event = driver.events[-1]
    assert isinstance(event, smtp.MailFrom) and event.address == address


@pytest.mark.parametrize(
    "arg",
    [b"FROM:", b"FROM:<a@example.org", b"FROM:<a b@example.org>", b"TO:<a@b.c>", b"FROM:<a>x"],
)
def test_bad_mail_syntax_is_501(arg: bytes) -> None:
    driver = ready()
    assert driver.codes(b"MAIL " + arg + b"\r\n") == [501]
    assert driver.conn.state is smtp.State.READY


def test_sender_refused_by_the_service_keeps_no_transaction() -> None:
    driver = ready()
    driver.mail_reply = "553 5.1.7 no"
    assert driver.codes(TRANSACTION) == [553, 503, 503]


def test_commands_out_of_order_get_503() -> None:
    driver = Driver()
    driver.replies()
    assert driver.codes(b"MAIL FROM:<a@example.org>\r\n") == [503]
    driver.codes(b"EHLO c\r\n")
    assert driver.codes(b"RCPT TO:<box@live.test>\r\nDATA\r\n") == [503, 503]
    assert driver.codes(b"MAIL FROM:<a@example.org>\r\nMAIL FROM:<b@example.org>\r\n") == [
        250,
        503,
    ]
    assert driver.codes(b"DATA\r\nRCPT TO:<x@dead.test>\r\nDATA\r\n") == [503, 550, 503]
    assert driver.codes(b"RSET\r\nRCPT TO:<box@live.test>\r\n") == [250, 503]


def test_rcpt_limits_and_syntax() -> None:
    driver = ready()
    driver.codes(b"MAIL FROM:<a@example.org>\r\n")
    assert driver.codes(b"RCPT TO:<>\r\nRCPT TO:<a@live.test> NOTIFY=NEVER\r\n") == [501, 555]
    codes = driver.codes(b"".join(b"RCPT TO:<b%d@live.test>\r\n" % i for i in range(7)))
    assert codes == [250] * 5 + [452] * 2
    lookups = [e for e in driver.events if isinstance(e, smtp.RcptTo)]
    assert len(lookups) == 5  # no look-up beyond the limit


def test_too_many_unknown_recipients_end_the_session_without_a_lookup() -> None:
    driver = ready()
    driver.codes(b"MAIL FROM:<a@example.org>\r\n")
    script = b"".join(b"RCPT TO:<u%d@dead.test>\r\n" % i for i in range(3))
    script += b"RCPT TO:<box@live.test>\r\nNOOP\r\n"
    assert driver.codes(script) == [550, 550, 550, 421]
    assert len([e for e in driver.events if isinstance(e, smtp.RcptTo)]) == 3
    assert driver.conn.closing


def test_rset_noop_vrfy_help_quit() -> None:
    driver = ready()
    assert driver.codes(b"RSET x\r\nRSET\r\nNOOP anything\r\n") == [501, 250, 250]
    assert driver.codes(b"VRFY\r\nVRFY someone\r\nHELP\r\n") == [501, 252, 214]
    assert driver.codes(b"QUIT now\r\nQUIT\r\nNOOP\r\n") == [501, 221]  # nothing after QUIT


def test_auth_expn_are_not_implemented_and_unknown_commands_end_at_five() -> None:
    driver = ready()
    assert driver.codes(b"AUTH PLAIN x\r\nEXPN staff\r\n") == [502, 502]
    codes = driver.codes(b"TURN\r\nXYZZY\r\n\r\nHE\x00LO x\r\nFOO\r\nNOOP\r\n")
    assert codes == [500, 500, 500, 500, 502]
    assert driver.conn.closing


def test_starttls_without_tls_and_with_arguments() -> None:
    driver = ready()
    assert driver.codes(b"STARTTLS\r\nSTARTTLS now\r\nNOOP\r\n") == [454, 501, 250]


def test_starttls_drops_pipelined_input_and_resets_the_session() -> None:
    driver = ready(limits=smtp.ProtocolLimits("mx.test", 10_000, 5, tls_available=True))
    assert b"250-STARTTLS" in driver.feed(b"EHLO again\r\n")
    # A command injected after STARTTLS, in the clear, must not run under TLS.
    assert driver.codes(b"STARTTLS\r\nMAIL FROM:<evil@example.org>\r\n") == [220]
    assert isinstance(driver.conn.pending, smtp.StartTls)
    driver.conn.tls_started()
    assert driver.codes(b"MAIL FROM:<a@example.org>\r\n") == [503]  # EHLO first
    lines = driver.feed(b"EHLO c\r\nSTARTTLS\r\n")
    assert b"250-STARTTLS" not in lines and lines[-1].startswith(b"503")


def test_replies_are_one_line_of_ascii_whatever_the_service_says() -> None:
    driver = ready()
    driver.message_reply = "451 4.3.0 broken\r\nX-Injected: é"
    driver.codes(TRANSACTION + b"x\r\n.\r\n")
    assert driver.conn.state is smtp.State.READY


def test_421_from_the_service_closes() -> None:
    driver = ready()
    driver.mail_reply = "421 4.3.2 shutting down"
    assert driver.codes(b"MAIL FROM:<a@example.org>\r\nNOOP\r\n") == [421]
    assert driver.conn.closing and driver.conn.buffered == 0


# --- limits -----------------------------------------------------------------------------


def test_command_line_limits() -> None:
    driver = Driver()
    driver.replies()
    # Before EHLO every command has 512 octets, CRLF included.
    assert driver.codes(b"NOOP " + b"x" * (smtp.COMMAND_LINE_LIMIT - 7) + b"\r\n") == [250]
    assert driver.codes(b"NOOP " + b"x" * (smtp.COMMAND_LINE_LIMIT - 6) + b"\r\n") == [500]
    driver.codes(b"EHLO c\r\n")
    long_mail = b"MAIL FROM:<a@example.org> " + b"X" * 600 + b"\r\n"
    assert driver.codes(long_mail) == [555]  # within the ESMTP limit: parsed, then refused
    assert driver.codes(b"MAIL FROM:<" + b"a" * 300 + b"@example.org>\r\n") == [553]


def test_an_endless_command_line_is_skipped_in_any_split_and_answered_once() -> None:
    driver = ready()
    for _ in range(100):
        assert driver.feed(b"x" * 100_000) == []
        assert driver.conn.buffered <= smtp.ESMTP_LINE_LIMIT + 100_000
    assert driver.codes(b"\r\nNOOP\r\n") == [500, 250]


def test_data_over_the_size_limit_is_dropped_and_552_at_the_end() -> None:
    driver = ready()
    driver.codes(TRANSACTION)
    for _ in range(50):
        driver.feed(b"y" * 998 + b"\r\n")
    assert len(driver.conn._body) <= 1.5 * LIMITS.max_message_size + 1000
    assert driver.codes(b".\r\nNOOP\r\n") == [552, 250]
    assert driver.messages() == []
    assert driver.codes(b"RCPT TO:<box@live.test>\r\n") == [503]  # the transaction ended


def test_a_message_exactly_at_the_limit_is_taken() -> None:
    driver = ready()
    body = (b"z" * 98 + b"\r\n") * 100  # 10,000 octets
    assert driver.codes(TRANSACTION + body + b".\r\n") == [250, 250, 354, 250]
    assert driver.messages()[0].data == body


def test_dot_stuffing_does_not_count_against_the_size() -> None:
    driver = ready()
    body = b".\r\n" * 3333  # 9,999 octets, 13,332 on the wire
    driver.codes(TRANSACTION + body.replace(b"\r\n.", b"\r\n..").replace(b".", b"..", 1))
    assert driver.codes(b".\r\n") == [250]
    assert driver.messages()[0].data == body


def test_a_data_line_over_the_line_limit_is_refused_whatever_the_split() -> None:
    driver = ready()
    driver.codes(TRANSACTION)
    driver.feed(b"ok\r\n" + b"w" * 1500)
    driver.feed(b"w" * 600 + b"\r\nshort\r\n")
    assert driver.codes(b".\r\n") == [500]
    # A long line inside one big chunk, between short ones.
    driver.codes(TRANSACTION)
    assert driver.codes(b"a\r\n" + b"v" * 2500 + b"\r\nb\r\n.\r\n") == [500]
    # Just under the limit is fine.
    driver.codes(TRANSACTION)
    assert driver.codes(b"a\r\n" + b"u" * 1990 + b"\r\n.\r\n") == [250]


# --- pipelining -------------------------------------------------------------------------


def test_pipelined_group_waits_for_each_decision_in_order() -> None:
    driver = ready()
    driver.decide = False
    script = TRANSACTION + b"hello\r\n.\r\nMAIL FROM:<b@example.org>\r\nNOOP\r\n"
    driver.feed(script)
    conn = driver.conn
    assert isinstance(conn.pending, smtp.MailFrom)
    assert driver.replies() == []  # nothing is answered before the sender is decided
    conn.answer("250 2.1.0 OK")
    conn.next_event()
    assert isinstance(conn.pending, smtp.RcptTo)
    conn.accept_recipient("box@live.test")
    conn.next_event()
    assert isinstance(conn.pending, smtp.Message)  # the commit is pending ...
    assert [line[:3] for line in driver.replies()] == [b"250", b"250", b"354"]
    assert conn.buffered > 0  # ... and the next commands wait behind it, unread
    conn.answer("250 2.0.0 queued")
    conn.next_event()
    assert isinstance(conn.pending, smtp.MailFrom)
    conn.answer("250 2.1.0 OK")
    conn.next_event()
    assert [line[:3] for line in driver.replies()] == [b"250", b"250", b"250"]


def test_pipelined_transactions_in_one_write() -> None:
    driver = Driver()
    driver.replies()
    script = (
        b"EHLO c\r\n"
        + TRANSACTION
        + b"one\r\n.\r\n"
        + b"MAIL FROM:<b@example.org>\r\nRCPT TO:<x@dead.test>\r\nRCPT TO:<c@live.test>\r\n"
        + b"DATA\r\ntwo\r\n.\r\nNOOP\r\nQUIT\r\n"
    )
    assert driver.codes(script) == [250, 250, 250, 354, 250, 250, 550, 250, 354, 250, 250, 221]
    assert [m.data for m in driver.messages()] == [b"one\r\n", b"two\r\n"]
    assert driver.messages()[1].recipients == ["c@live.test"]


def test_every_split_of_a_session_gives_the_same_replies() -> None:
    script = b"EHLO c\r\n" + TRANSACTION + b"a\r\n..b\r\n.\r\nQUIT\r\n"
    whole = Driver()
    expected = whole.feed(script)
    for cut in range(1, len(script)):
        driver = Driver()
        out = driver.feed(script[:cut]) + driver.feed(script[cut:])
        assert out == expected, cut
        assert driver.messages()[0].data == b"a\r\n.b\r\n"


# --- any input --------------------------------------------------------------------------

TOKENS = st.sampled_from(
    [
        b"EHLO c\r\n",
        b"HELO c\r\n",
        b"MAIL FROM:<a@example.org>\r\n",
        b"MAIL FROM:<a@example.org> SIZE=99999\r\n",
        b"RCPT TO:<box@live.test>\r\n",
        b"RCPT TO:<x@dead.test>\r\n",
        b"DATA\r\n",
        b"BDAT 7\r\n",
        b"BDAT 3 LAST\r\n",
        b"BDAT 0 LAST\r\n",
        b"BDAT 9000 LAST\r\n",
        b"BDAT 5000\r\n",
        b"BDAT x\r\n",
        b".\r\n",
        b"..\r\n",
        b"\r\n.\r\n",
        b"RSET\r\n",
        b"NOOP\r\n",
        b"STARTTLS\r\n",
        b"QUIT\r\n",
        b"\r\n",
        b"\n",
        b"\r",
        b".",
        b"x" * 3000,
        b"\x00\xff",
    ]
)
STREAMS = st.lists(st.one_of(TOKENS, st.binary(max_size=200)), max_size=40).map(b"".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=STREAMS, cuts=st.lists(st.integers(0, 20_000), max_size=10), tls=st.booleans())
def test_any_bytes_in_any_split(stream: bytes, cuts: list[int], tls: bool) -> None:
    limits = smtp.ProtocolLimits("mx.test", 10_000, 5, max_unknown_recipients=3, tls_available=tls)
    driver = Driver(limits=limits)
    at = 0
    for cut in [*sorted(cuts), len(stream)]:
        if cut < at:
            continue
        driver.conn.receive_data(stream[at:cut])
        at = cut
        driver.run()
        if isinstance(driver.conn.pending, smtp.StartTls):
            driver.conn.tls_started()
            driver.run()
        driver.replies()  # every line is a well-formed reply
        conn = driver.conn
        # Bounded: a command line, or the message so far, or what waits behind a decision.
        assert conn.buffered <= smtp.ESMTP_LINE_LIMIT or conn.pending is not None
        assert len(conn._body) <= 1.5 * limits.max_message_size + 2 + 4
    for message in driver.messages():
        assert len(message.data) <= limits.max_message_size
    # The empty transaction every session shares between transactions was never written to.
    assert smtp.Transaction() == smtp.NO_TRANSACTION


HOT_TOKENS = st.sampled_from(
    [
        b"MAIL FROM:<a@example.org>\r\n",
        b"mail from:<a@example.org>\n",
        b"MAIL FROM:<>\r\n",
        b"MAIL FROM: <a@example.org>\r\n",
        b"MAIL FROM:<@relay:a@example.org>\r\n",
        b"MAIL FROM:<a@example.org>\r\r\n",
        b"MAIL FROM:<a\xc3\xa9@example.org>\r\n",
        b"MAIL FROM:<\x01@example.org>\r\n",
        b"MAIL FROM:<%s@example.org>\r\n" % (b"a" * 242),  # 254 octets: the longest path
        b"MAIL FROM:<%s@example.org>\r\n" % (b"a" * 243),  # 255: one too long
        b"RCPT TO:<box@live.test>\r\n",
        b"RCPT TO:<box@live.test>\r\n" * 3,
        b"rcpt to:<box@live.test>\n",
        b"RCPT TO:<x@dead.test>\r\n",
        b"RCPT TO:<>\r\n",
        b"RCPT TO:<%s@live.test>\r\n" % (b"b" * 244),  # 254 octets
        b"RCPT TO:<%s@live.test>\r\n" % (b"b" * 245),  # 255
        b'RCPT TO:<"q"@live.test>\r\n',
        b"DATA\r\n",
        b"data\n",
        b"DATA x\r\n",
        b"RSET\r\n",
        b"NOOP\r\n",
        b"EHLO c\r\n",
        b"ehlo client.example\n",
        b"EHLO\r\n",
        b"EHLO  c\r\n",
        b"EHLO c \r\n",
        b"HELO c\r\n",
        b"QUIT\r\n",
        b"quit \r\n",
        b"BDAT 3 LAST\r\n",
        b"body\r\n.\r\n",
        b"x" * 1100,
        b"\r\n",
    ]
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    greeted=st.booleans(),
    stream=st.lists(st.one_of(HOT_TOKENS, st.binary(max_size=30)), max_size=40).map(b"".join),
    cuts=st.lists(st.integers(0, 3_000), max_size=8),
)
def test_the_hot_command_shortcut_agrees_with_the_general_reading(
    greeted: bool, stream: bytes, cuts: list[int]
) -> None:
    """Same replies and same events, step by step, with and without HOT_COMMANDS."""
    stream = (b"EHLO c\r\n" if greeted else b"") + stream
    limits = smtp.ProtocolLimits("mx.test", 10_000, 3, max_unknown_recipients=4)
    fast, general = Driver(limits=limits), Driver(limits=limits, general_only=True)
    assert fast.replies() == general.replies()
    at = 0
    for cut in [*sorted(cuts), len(stream)]:
        if cut < at:
            continue
        for driver in (fast, general):
            driver.conn.receive_data(stream[at:cut])
            driver.run()
        at = cut
        assert fast.replies() == general.replies()
        assert fast.events == general.events
        assert fast.conn.state is general.conn.state


PATHISH = st.text(alphabet=' <>@:."\\abc\x00\t\udc80=S1-', max_size=24)


@settings(max_examples=3000, deadline=None)
@given(text=st.one_of(PATHISH, st.builds(lambda a, b: f"<{a}>{b}", PATHISH, PATHISH), st.text()))
def test_the_plain_path_shortcut_agrees_with_the_general_reading(text: str) -> None:
    assert path_and_params(text) == read_path_and_params(text)


# --- BDAT (CHUNKING, RFC 3030) ----------------------------------------------------------

CHUNKED = b"MAIL FROM:<a@example.org>\r\nRCPT TO:<box@live.test>\r\n"


def test_ehlo_offers_chunking() -> None:
    driver = Driver()
    driver.replies()
    assert b"250-CHUNKING" in driver.feed(b"EHLO client.test\r\n")


def test_a_message_in_chunks_is_taken_exactly_as_sent() -> None:
    driver = ready()
    assert driver.codes(CHUNKED) == [250, 250]
    # Binary: a line with a lone dot and a dot at a line start are content, not markers.
    first, last = b"Subject: x\r\n\r\n.\r\n..b", b"ody\r\n"
    lines = driver.feed(b"BDAT %d\r\n%s" % (len(first), first))
    assert lines == [b"250 2.0.0 Chunk received, %d octets in all" % len(first)]
    assert driver.codes(b"BDAT %d LAST\r\n%s" % (len(last), last)) == [250]
    assert [m.data for m in driver.messages()] == [first + last]
    assert driver.messages()[0].recipients == ["box@live.test"]
    assert driver.codes(b"BDAT 0 LAST\r\n") == [503]  # the transaction is over


def test_an_empty_last_chunk_ends_the_message() -> None:
    driver = ready()
    driver.feed(CHUNKED)
    assert driver.codes(b"BDAT 3\r\nabcBDAT 0 LAST\r\n") == [250, 250]
    assert [m.data for m in driver.messages()] == [b"abc"]


def test_a_refused_chunk_is_read_past_so_the_next_command_is_understood() -> None:
    driver = ready()
    # "NOOP\r\n" inside the chunk is data to skip, not a command.
    assert driver.codes(b"BDAT 6 LAST\r\nNOOP\r\nNOOP\r\n") == [503, 250]
    driver.feed(b"MAIL FROM:<a@example.org>\r\n")
    assert driver.codes(b"BDAT 4 LAST\r\nRSETNOOP\r\n") == [503, 250]  # no recipient yet
    assert driver.messages() == []


def test_data_and_bdat_do_not_mix_in_one_transaction() -> None:
    driver = ready()
    driver.feed(CHUNKED)
    assert driver.codes(b"BDAT 2\r\nabDATA\r\n") == [250, 503]
    assert driver.codes(b"BDAT 2 last\r\ncd") == [250]  # LAST in any case
    assert [m.data for m in driver.messages()] == [b"abcd"]


@pytest.mark.parametrize("arg", [b"", b" x", b" 5 MORE", b" -1", b" 5 LAST x", b" \xd9\xa3"])
def test_a_bdat_whose_size_cannot_be_read_closes_the_session(arg: bytes) -> None:
    driver = ready()
    driver.feed(CHUNKED)
    assert driver.codes(b"BDAT" + arg + b"\r\nNOOP\r\n") == [501]  # nothing after it is read
    assert driver.conn.closing


def test_chunks_over_the_size_limit_are_refused_unread_and_end_the_transaction() -> None:
    driver = ready()
    driver.feed(CHUNKED)
    big = LIMITS.max_message_size
    assert driver.codes(b"BDAT 6000\r\n" + b"a" * 6000) == [250]
    # Declared beyond the limit: 552 once the chunk is past, nothing of it kept.
    assert driver.codes(b"BDAT 5000\r\n" + b"b" * 5000) == [552]
    assert len(driver.conn._body) == 0
    assert driver.codes(b"BDAT 1 LAST\r\nc") == [503]  # pipelined after it: no transaction
    driver.feed(CHUNKED)
    exact = b"d" * 98 + b"\r\n"
    assert driver.codes(b"BDAT %d LAST\r\n" % big + exact * (big // 100)) == [250]  # at the limit
    assert [len(m.data) for m in driver.messages()] == [big]


def test_a_huge_declared_chunk_keeps_nothing_while_it_is_skipped() -> None:
    driver = ready()
    driver.feed(CHUNKED)
    assert driver.codes(b"BDAT 99999999999999999999 LAST\r\n") == []
    for _ in range(50):
        driver.feed(b"x" * 65536)
        assert len(driver.conn._body) == 0 and driver.conn.buffered == 0
    assert driver.conn.state is smtp.State.CHUNK  # still skipping: the clocks end it


def test_a_chunked_line_over_the_line_limit_is_refused_across_chunks() -> None:
    driver = ready()
    driver.feed(CHUNKED)
    half = b"u" * 1500  # 3,000 octets with no line end, over LIMITS.data_line_limit
    assert driver.codes(b"BDAT 1500\r\n" + half + b"BDAT 1502 LAST\r\n" + half + b"\r\n") == [
        250,
        500,
    ]
    assert driver.messages() == []


def test_pipelined_bdat_waits_for_the_commit_and_every_split_agrees() -> None:
    script = b"EHLO c\r\n" + CHUNKED + b"BDAT 5 LAST\r\nhelloMAIL FROM:<b@example.org>\r\nQUIT\r\n"
    whole = Driver()
    expected = whole.feed(script)
    finals = [int(line[:3]) for line in expected if line[3:4] == b" "]
    assert finals == [220, 250, 250, 250, 250, 250, 221]
    for cut in range(1, len(script)):
        driver = Driver()
        out = driver.feed(script[:cut]) + driver.feed(script[cut:])
        assert out == expected, cut
        assert [m.data for m in driver.messages()] == [b"hello"]
    held = ready()
    held.decide = False
    held.feed(CHUNKED + b"BDAT 5 LAST\r\nhelloNOOP\r\n")
    conn = held.conn
    conn.answer("250 2.1.0 OK")
    conn.next_event()
    conn.accept_recipient("box@live.test")
    conn.next_event()
    assert isinstance(conn.pending, smtp.Message) and conn.buffered == len(b"NOOP\r\n")
    assert [line[:3] for line in held.replies()] == [b"250", b"250"]  # NOOP waits its turn
