"""Full-text search over the cases' decrypted content, held in this process's memory only.

The console database holds reporter content sealed under the vault key, so it cannot be
searched there, and a searchable copy on disk would break the promise that a stolen disk
reveals nothing. Instead, once the console is unsealed, `SearchIndex` opens every item
(report, reporter message, reply) and keeps an inverted index in memory: each normalised
word, mapped to the cases whose text holds it. Nothing of it is ever written to the
database or to a file, and it is gone when the process stops.

What is indexed, and how words are normalised alike in the index and in a query, is in
triage/search_words.py.

A query matches the cases holding every one of its words; the last word also matches the
words it begins (`PREFIX_MIN` characters or more), so "laund" finds "laundry".

The index follows the database, whichever process wrote to it (`lanthorn triage sync`
from a timer, replies, the retention purge): before each search it reads the items added
since it last looked, and forgets the cases purged since (their words leave memory too).
A row that commits late is not missed (triage/table_tail.py).

Memory: one array of 4-byte case numbers per word (kept sorted, so a rare word is checked
against a common one by bisection), one array of word numbers per case (to forget a case),
and the vocabulary itself. `memory()` estimates the total.
"""

from __future__ import annotations

import bisect
import sys
import threading
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import crypto

from .db import CaseEvent, Item
from .search_words import item_text, normalise, query_terms, words
from .table_tail import Tail

#: The last word of a query matches longer words from this many characters on.
PREFIX_MIN = 3
#: Items read and opened per database round trip while building.
BATCH = 1000


@dataclass(frozen=True)
class Progress:
    """Where building the index stands: `ready`, or `done` of `total` items read."""

    ready: bool
    done: int
    total: int


class SearchIndex:
    """An inverted index of the console's decrypted cases, in memory.

    Thread-safe: the web pages search from worker threads while a sync, or the first
    build after unsealing, adds to it.
    """

    def __init__(
        self, sessions: sessionmaker[Session], open_content: Callable[[bytes], Any]
    ) -> None:
        self._sessions = sessions
        self._open = open_content
        self._lock = threading.RLock()
        self._state = "empty"  # empty → building → ready; closed at the end
        self._done = self._total = 0
        self._clear()

    def _clear(self) -> None:
        self._vocabulary: dict[str, int] = {}  # word → word number
        self._words: list[str | None] = []  # word number → word (None once forgotten)
        self._postings: list[array[int]] = []  # word number → case numbers, ascending
        self._sorted: list[str] = []  # the vocabulary in order, for prefixes
        self._new_words: list[str] = []  # added to the vocabulary, not yet to _sorted
        self._numbers: dict[str, int] = {}  # case id → case number
        self._case_ids: list[str] = []  # case number → case id
        self._case_words: list[array[int]] = []  # case number → its word numbers
        self._items = Tail()
        self._purges = Tail()

    # -- building ----------------------------------------------------------------------

    def start(self) -> None:
        """Build in a background thread (after unsealing), unless already under way."""
        with self._lock:
            if self._state != "empty":
                return
            self._state = "building"
        threading.Thread(target=self._build, name="search-index", daemon=True).start()

    def build(self) -> None:
        """Build now, in this thread (or wait for the build already running)."""
        with self._lock:
            if self._state == "empty":
                self._state = "building"
            elif self._state == "building":
                pass  # another thread builds: the lock below waits for its batches
            else:
                return
        self._build()

    def _build(self) -> None:
        with self._sessions() as session:
            self._total = session.scalar(select(func.count()).select_from(Item)) or 0
        while True:
            with self._lock:
                if self._state != "building":
                    return  # closed meanwhile, or another thread finished the build
                if not self._read_items(limit=BATCH):
                    self._sorted.sort()
                    self._read_purges()
                    self._state = "ready"
                    return

    def progress(self) -> Progress:
        return Progress(self._state == "ready", self._done, max(self._total, self._done))

    def close(self) -> None:
        """Forget everything (the console is closing)."""
        with self._lock:
            self._state = "closed"
            self._clear()

    # -- following the database ------------------------------------------------------

    def refresh(self) -> None:
        """Take in the items added and forget the cases purged since the last look.

        Does nothing until the index has been built: the build reads everything anyway."""
        with self._lock:
            if self._state != "ready":
                return
            while self._read_items(limit=BATCH):
                pass
            self._read_purges()

    def _read_items(self, limit: int) -> int:
        query = (
            select(Item.seq, Item.case_id, Item.content)
            .where(self._items.condition(Item.seq))
            .order_by(Item.seq)
            .limit(limit)
        )
        with self._sessions() as session:
            rows = session.execute(query).all()
        for row in rows:
            try:
                text = item_text(self._open(row.content))
            except (crypto.CryptoError, ValueError):
                text = ""  # unreadable content has no words to find
            self._add(row.case_id, words(text))
        self._items.saw(row.seq for row in rows)
        self._done += len(rows)
        new_words, self._new_words = self._new_words, []
        if self._state == "building":
            self._sorted.extend(new_words)  # sorted once, at the end of the build
        elif len(new_words) > 64:
            self._sorted.extend(new_words)
            self._sorted.sort()
        else:
            for word in new_words:
                bisect.insort(self._sorted, word)
        return len(rows)

    def _read_purges(self) -> None:
        query = select(CaseEvent.seq, CaseEvent.kind, CaseEvent.case_id).where(
            self._purges.condition(CaseEvent.seq)
        )
        with self._sessions() as session:
            rows = session.execute(query).all()
        for row in rows:
            if row.kind == "purged":
                self._forget(row.case_id)
        self._purges.saw(row.seq for row in rows)

    def _add(self, case_id: str, found: list[str]) -> None:
        number = self._numbers.get(case_id)
        if number is None:
            number = self._numbers[case_id] = len(self._case_ids)
            self._case_ids.append(case_id)
            self._case_words.append(array("I"))
        get = self._vocabulary.get
        numbers = [n if (n := get(w)) is not None else self._number_of(w) for w in set(found)]
        known = self._case_words[number]
        fresh = set(numbers).difference(known) if known else numbers
        known.extend(fresh)
        postings = self._postings
        for word_number in fresh:
            posting = postings[word_number]
            if not posting or posting[-1] < number:
                posting.append(number)
            else:  # a later item of an older case
                posting.insert(bisect.bisect_left(posting, number), number)

    def _number_of(self, word: str) -> int:
        word_number = self._vocabulary.get(word)
        if word_number is None:
            word_number = self._vocabulary[word] = len(self._words)
            self._words.append(word)
            self._postings.append(array("I"))
            self._new_words.append(word)
        return word_number

    def _forget(self, case_id: str) -> None:
        number = self._numbers.get(case_id)
        if number is None:
            return
        for word_number in self._case_words[number]:
            posting = self._postings[word_number]
            at = bisect.bisect_left(posting, number)
            if at < len(posting) and posting[at] == number:
                del posting[at]
            word = self._words[word_number]
            if not posting and word is not None:  # no case holds the word any more
                del self._vocabulary[word]
                at = bisect.bisect_left(self._sorted, word)
                if at < len(self._sorted) and self._sorted[at] == word:
                    del self._sorted[at]
                self._words[word_number] = None
        self._case_words[number] = array("I")

    # -- searching ---------------------------------------------------------------------

    def find(self, query: str) -> set[str] | None:
        """The ids of the cases matching `query`, or None while the index is being built.

        Builds the index first if nobody has (a console used without the unseal page)."""
        if self._state == "empty":
            self.build()
        if self._state != "ready":
            return None
        terms = query_terms(query)
        if not terms:
            return set()
        self.refresh()
        with self._lock:
            found = self._match(terms)
            return {self._case_ids[number] for number in found}

    def _match(self, terms: list[str]) -> set[int]:
        candidates = self._candidates(terms)
        if not candidates or not all(candidates):
            return set()
        candidates.sort(key=len)
        found = set(candidates[0])
        for other in candidates[1:]:
            if not found:
                break
            if isinstance(other, array) and len(found) * 16 < len(other):
                found = {n for n in found if _holds(other, n)}  # few against many: bisect
            else:
                found.intersection_update(other)
        return found

    def _candidates(self, terms: list[str]) -> list[array[int] | set[int]]:
        """For each word, the cases holding it (the last: holding a word it begins)."""
        candidates: list[array[int] | set[int]] = []
        for position, term in enumerate(terms):
            if position == len(terms) - 1 and len(term) >= PREFIX_MIN:
                numbers = self._prefixed(term)
                if len(numbers) == 1:
                    candidates.append(self._postings[numbers[0]])
                else:
                    candidates.append(set().union(*(self._postings[n] for n in numbers)))
            elif term in self._vocabulary:
                candidates.append(self._postings[self._vocabulary[term]])
            else:
                candidates.append(set())
        return candidates

    def word_sets(self, query: str) -> list[set[int]]:
        """The cases (by number) holding each word of `query`, as Python sets: what the
        benchmark intersects for the least a search could cost."""
        with self._lock:
            terms = query_terms(query)
            return [set(found) for found in self._candidates(terms)]

    def _prefixed(self, prefix: str) -> list[int]:
        start = bisect.bisect_left(self._sorted, prefix)
        found = []
        for word in self._sorted[start:]:
            if not word.startswith(prefix):
                break
            found.append(self._vocabulary[word])
        return found

    def knows(self, word: str) -> bool:
        """Whether any case's text still holds this (normalised) word."""
        with self._lock:
            return normalise(word) in self._vocabulary

    # -- size ----------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "cases": len(self._numbers),
                "words": len(self._vocabulary),
                "postings": sum(len(p) for p in self._postings),
            }

    def memory(self) -> int:
        """An estimate, in bytes, of what the index holds (containers and their contents)."""
        with self._lock:
            size = sys.getsizeof(self._vocabulary) + sys.getsizeof(self._words)
            size += sys.getsizeof(self._postings) + sys.getsizeof(self._sorted)
            size += sys.getsizeof(self._numbers) + sys.getsizeof(self._case_ids)
            size += sys.getsizeof(self._case_words)
            size += sum(sys.getsizeof(w) for w in self._words if w is not None)
            size += sum(sys.getsizeof(p) for p in self._postings)
            size += sum(sys.getsizeof(c) for c in self._case_ids)
            size += sum(sys.getsizeof(c) for c in self._case_words)
            return size


def _holds(posting: array[int], number: int) -> bool:
    at = bisect.bisect_left(posting, number)
    return at < len(posting) and posting[at] == number
