"""Search queries reach the database as words only, never as query syntax."""

from __future__ import annotations

from ephemail.core.search import MAX_QUERY_WORDS, fts5_query, query_words, tsquery


def test_a_query_is_its_words_lowercased() -> None:
    assert query_words("Verify  your ACME-account!") == ["verify", "your", "acme", "account"]
    assert query_words("Código de verificación") == ["código", "de", "verificación"]
    assert query_words("验证码 482913") == ["验证码", "482913"]


def test_query_syntax_of_either_backend_is_only_a_separator() -> None:
    hostile = "a\" OR b* NEAR(c d) NOT e:f & g | !h <-> (i) 'j' _k_"
    words = query_words(hostile)
    assert words == ["a", "or", "b", "near", "c", "d", "not", "e", "f", "g", "h", "i", "j", "k"]
    assert fts5_query(["a", "b"]) == '"a"* "b"*'
    assert tsquery(["a", "b"]) == "a:* & b:*"
    for word in words:
        assert word.isalnum()


def test_a_query_has_a_bounded_number_of_words() -> None:
    assert len(query_words("w " * 1000)) == MAX_QUERY_WORDS
    assert query_words("!!! ???") == []
