"""Synthetic multi-source customer records with known entity ids.

The generator mimics a customer master assembled from several source systems
(a CRM, an ERP, a web shop, a support desk, ...). Every record carries the
ground-truth ``entity_id`` it was generated from, so linkage quality can be
measured exactly at any scale from ten thousand to ten million records.

Everything is vectorised: entities are drawn per locale with numpy, strings are
assembled with polars expressions, and each corruption picks its rows with a
numpy mask and rewrites them as a group. No Python code runs once per record,
so ten million rows take a minute or two on two cores.

Vocabularies (first names, surnames, cities) come from the per-locale data that
``faker`` ships; it is read once per process and never called per record. Major
cities of the countries for which faker has no city list are kept in this
module. Output is a pure function of the arguments and the installed faker
version.

``difficulty="hard"`` adds what makes real customer masters hard: other people
who look alike (:class:`Population`: households sharing an address, surname,
landline and sometimes an e-mail address; twins; junior/senior pairs; namesakes
in one city), duplicates that differ (:meth:`Corruptions.hard`: married names
with a move, moves with a new phone, swapped names, initials, transliterations,
placeholders such as test@test.com shared by unrelated records) and source
formats (:data:`HARD_SOURCES`: a packed "SURNAME, First" field, two-digit
years, month names, numeric phone columns). It draws from a second random
stream, so ``"standard"`` output is unchanged for a seed.

Examples
--------
>>> df = generate_customers(1_000, seed=1)
>>> df.height, df["entity_id"].n_unique() < 1_000
(1000, True)
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import itertools
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import polars as pl

__all__ = [
    "COLUMNS",
    "HARD_COLUMNS",
    "HARD_SOURCES",
    "NICKNAMES",
    "RELATIONS",
    "SOURCES",
    "Corruptions",
    "Difficulty",
    "Population",
    "SourceSystem",
    "generate_customers",
    "main",
    "true_pair_count",
]

#: ``"standard"``: the generator's original data, unchanged for a seed;
#: ``"hard"``: with households, twins, junior/senior pairs, namesakes, hard
#: duplicates, placeholders and more source formats (:func:`generate_customers`).
Difficulty = Literal["standard", "hard"]
DIFFICULTIES: tuple[str, ...] = ("standard", "hard")

#: Output columns, in order; all are ``String`` except ``entity_id`` (``Int64``).
COLUMNS: tuple[str, ...] = (
    "record_id",
    "source",
    "entity_id",
    "first_name",
    "surname",
    "date_of_birth",
    "email",
    "phone",
    "street_address",
    "city",
    "postcode",
    "country",
)

#: Output columns of ``difficulty="hard"``: :data:`COLUMNS` plus ``full_name``
#: after ``surname``, the single name field of a source with
#: ``name_layout="packed"`` (null for every other source; that source's
#: ``first_name`` and ``surname`` are null).
HARD_COLUMNS: tuple[str, ...] = (*COLUMNS[:5], "full_name", *COLUMNS[5:])

#: Fields that may be blanked by the ``missing`` corruption.
NULLABLE_FIELDS: tuple[str, ...] = COLUMNS[3:]

#: Fields that :attr:`Corruptions.placeholder` can fill with a junk value.
PLACEHOLDER_FIELDS: tuple[str, ...] = (
    "email",
    "phone",
    "street_address",
    "postcode",
)

#: How an entity relates to the other customers at its address (the
#: ``relation`` column of the truth frame of ``difficulty="hard"``).
RELATIONS: tuple[str, ...] = (
    "single",  # no other customer at the address
    "head",  # first member of a household (the one the others copy)
    "partner",  # the head's partner
    "relative",  # child, parent or sibling of the head
    "twin",  # one of twins
    "senior",  # the father of a junior/senior pair with one name
    "junior",  # the son of a junior/senior pair
)
_SINGLE, _HEAD, _PARTNER, _RELATIVE, _TWIN, _SENIOR, _JUNIOR = range(len(RELATIONS))

#: Fields that typos and transpositions touch by default.
TYPO_FIELDS: tuple[str, ...] = (
    "first_name",
    "surname",
    "street_address",
    "city",
    "email",
)

_CASE_FIELDS = ("first_name", "surname", "street_address", "city")

# --------------------------------------------------------------------------
# Static tables
# --------------------------------------------------------------------------

#: ``(formal name, nickname)`` pairs; a formal name may have several nicknames.
NICKNAMES: tuple[tuple[str, str], ...] = (
    # English
    ("William", "Bill"),
    ("William", "Will"),
    ("William", "Liam"),
    ("Robert", "Bob"),
    ("Robert", "Rob"),
    ("Robert", "Bobby"),
    ("Elizabeth", "Liz"),
    ("Elizabeth", "Beth"),
    ("Elizabeth", "Betty"),
    ("Katherine", "Kate"),
    ("Katherine", "Kathy"),
    ("Catherine", "Cathy"),
    ("Catherine", "Kate"),
    ("Kathleen", "Kathy"),
    ("Richard", "Dick"),
    ("Richard", "Rick"),
    ("James", "Jim"),
    ("James", "Jimmy"),
    ("John", "Jack"),
    ("John", "Johnny"),
    ("Jonathan", "Jon"),
    ("Michael", "Mike"),
    ("Christopher", "Chris"),
    ("Christine", "Chris"),
    ("Christina", "Tina"),
    ("Daniel", "Dan"),
    ("Daniel", "Danny"),
    ("David", "Dave"),
    ("Joseph", "Joe"),
    ("Thomas", "Tom"),
    ("Thomas", "Tommy"),
    ("Anthony", "Tony"),
    ("Matthew", "Matt"),
    ("Andrew", "Andy"),
    ("Andrew", "Drew"),
    ("Edward", "Ed"),
    ("Edward", "Ted"),
    ("Edward", "Eddie"),
    ("Charles", "Charlie"),
    ("Charles", "Chuck"),
    ("Nicholas", "Nick"),
    ("Benjamin", "Ben"),
    ("Samuel", "Sam"),
    ("Samantha", "Sam"),
    ("Alexander", "Alex"),
    ("Alexandra", "Alex"),
    ("Stephen", "Steve"),
    ("Steven", "Steve"),
    ("Timothy", "Tim"),
    ("Patrick", "Pat"),
    ("Patricia", "Pat"),
    ("Patricia", "Trish"),
    ("Margaret", "Maggie"),
    ("Margaret", "Peggy"),
    ("Margaret", "Meg"),
    ("Jennifer", "Jen"),
    ("Jennifer", "Jenny"),
    ("Jessica", "Jess"),
    ("Rebecca", "Becky"),
    ("Susan", "Sue"),
    ("Deborah", "Debbie"),
    ("Victoria", "Vicky"),
    ("Kimberly", "Kim"),
    ("Barbara", "Barb"),
    ("Abigail", "Abby"),
    ("Gregory", "Greg"),
    ("Jeffrey", "Jeff"),
    ("Kenneth", "Ken"),
    ("Ronald", "Ron"),
    ("Donald", "Don"),
    ("Raymond", "Ray"),
    ("Lawrence", "Larry"),
    ("Gerald", "Jerry"),
    ("Frederick", "Fred"),
    ("Peter", "Pete"),
    ("Philip", "Phil"),
    ("Zachary", "Zach"),
    ("Nathan", "Nate"),
    ("Joshua", "Josh"),
    ("Jacob", "Jake"),
    ("Amanda", "Mandy"),
    ("Pamela", "Pam"),
    ("Cynthia", "Cindy"),
    # German
    ("Johannes", "Hans"),
    ("Johann", "Hans"),
    ("Josef", "Sepp"),
    ("Franziska", "Franzi"),
    ("Katharina", "Kathi"),
    ("Alexander", "Sascha"),
    ("Friedrich", "Fritz"),
    ("Heinrich", "Heinz"),
    ("Elisabeth", "Lisa"),
    ("Elisabeth", "Sissi"),
    ("Margarete", "Grete"),
    ("Gabriele", "Gabi"),
    ("Susanne", "Susi"),
    ("Stefanie", "Steffi"),
    ("Andreas", "Andi"),
    ("Sebastian", "Basti"),
    # French
    ("Frédéric", "Fred"),
    ("Nicolas", "Nico"),
    ("Christophe", "Chris"),
    ("Isabelle", "Isa"),
    ("Philippe", "Phil"),
    ("Alexandre", "Alex"),
    ("Maxime", "Max"),
    ("Emmanuel", "Manu"),
    ("Stéphanie", "Steph"),
    ("Valérie", "Val"),
    # Spanish
    ("Francisco", "Paco"),
    ("Francisco", "Pancho"),
    ("José", "Pepe"),
    ("Ignacio", "Nacho"),
    ("Guillermo", "Memo"),
    ("Enrique", "Quique"),
    ("Dolores", "Lola"),
    ("Concepción", "Concha"),
    ("Rosario", "Charo"),
    ("Manuel", "Manolo"),
    ("Eduardo", "Edu"),
    ("Rafael", "Rafa"),
    ("Josefa", "Pepa"),
    ("Mercedes", "Merche"),
    ("Guadalupe", "Lupe"),
    ("Pilar", "Pili"),
    # Italian
    ("Giuseppe", "Beppe"),
    ("Giuseppe", "Peppe"),
    ("Giovanni", "Gianni"),
    ("Salvatore", "Totò"),
    ("Alessandro", "Sandro"),
    ("Domenico", "Mimmo"),
    ("Vincenzo", "Enzo"),
    ("Federico", "Fede"),
    ("Beatrice", "Bice"),
    # Dutch
    ("Johannes", "Jan"),
    ("Cornelis", "Kees"),
    ("Hendrik", "Henk"),
    ("Jacobus", "Koos"),
    ("Wilhelmus", "Wim"),
    ("Petrus", "Piet"),
    ("Adrianus", "Arie"),
    # Polish
    ("Aleksander", "Olek"),
    ("Małgorzata", "Gosia"),
    ("Katarzyna", "Kasia"),
    ("Aleksandra", "Ola"),
    ("Wojciech", "Wojtek"),
    ("Elżbieta", "Ela"),
    ("Tomasz", "Tomek"),
    ("Krzysztof", "Krzysiek"),
    ("Agnieszka", "Aga"),
    ("Joanna", "Asia"),
    ("Magdalena", "Magda"),
    ("Bartłomiej", "Bartek"),
    ("Jakub", "Kuba"),
    ("Grzegorz", "Grzesiek"),
    ("Barbara", "Basia"),
    ("Zofia", "Zosia"),
)

# Phone styles: how a source system (or a person typing) writes a number.
_PHONE_INTL = 0  # +44 20 7946 0958
_PHONE_NATIONAL = 1  # 020 7946 0958
_PHONE_COMPACT = 2  # 02079460958
_PHONE_E164 = 3  # +442079460958
_PHONE_PUNCT = 4  # (212) 555-0100 / 020-7946-0958
_N_PHONE_STYLES = 5  # styles a customer types, and that ``phone_format`` picks
_PHONE_IDD = 5  # 0044 20 7946 0958: international with the 00 dialling prefix
_PHONE_DIGITS = 6  # 442079460958: a numeric column that lost the "+"
_N_PHONE_LAYOUTS = 7

_DATE_STYLES = (
    "iso",  # 1984-03-07
    "dmy_slash",  # 07/03/1984
    "mdy_slash",  # 03/07/1984
    "dmy_dot",  # 07.03.1984
    "ymd_compact",  # 19840307
    "dmy_slash_yy",  # 07/03/84
    "mdy_slash_yy",  # 03/07/84
    "iso_datetime",  # 1984-03-07 00:00:00 (a timestamp column exported as text)
    "d_mon_y",  # 07-Mar-1984
)
#: ``date_style="typed"``: a free-text form, each customer writing the date as
#: is usual where they live (US month first, Europe day first).
_TYPED_DATES_US = (("mdy_slash", 0.6), ("mdy_slash_yy", 0.1), ("iso", 0.3))
_TYPED_DATES_EU = (
    ("dmy_slash", 0.45),
    ("dmy_dot", 0.2),
    ("d_mon_y", 0.1),
    ("dmy_slash_yy", 0.05),
    ("iso", 0.2),
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")  # fmt: skip


@dataclass(frozen=True)
class SourceSystem:
    """How one source system records customers.

    Parameters
    ----------
    name : str
        Value of the ``source`` column.
    weight : float
        Relative share of records held by this system.
    id_prefix : str
        Prefix of its record ids.
    id_digits : int
        Zero-padded width of the numeric part of its record ids.
    id_offset : int
        First sequence number.
    id_scrambled : bool
        Whether record numbers are scrambled (bijectively) rather than sequential.
    date_style : str
        One of ``"iso"`` (1984-03-07), ``"dmy_slash"`` (07/03/1984),
        ``"mdy_slash"`` (03/07/1984), ``"dmy_dot"`` (07.03.1984),
        ``"ymd_compact"`` (19840307), ``"dmy_slash_yy"`` (07/03/84),
        ``"mdy_slash_yy"`` (03/07/84), ``"iso_datetime"`` (1984-03-07 00:00:00),
        ``"d_mon_y"`` (07-Mar-1984), or ``"typed"``: a free-text field, each
        customer writing the date the way usual where they live (month first
        in the US, day first with slashes, dots or a month name elsewhere).
    phone_style : int or None
        Phone layout (0 international, 1 national, 2 compact national, 3 E.164,
        4 punctuated national, 5 international with the ``00`` prefix, 6 digits
        with the country code but no ``+``, as a numeric column stores them);
        ``None`` means as typed by the customer, i.e. a random layout (0-4)
        per record.
    upper_ascii : bool
        Legacy system storing names and addresses in upper case without accents.
    country_style : {"iso2", "name"}
        Whether ``country`` holds ISO codes or English country names.
    missing : Mapping[str, float]
        Extra per-field probability that this system lacks a value, on top of the
        global ``Corruptions.missing`` rates.
    name_layout : {"split", "packed"}
        ``"packed"``: the system has one name field (``full_name``), mostly
        ``"SURNAME, First"``, and no ``first_name`` or ``surname``; only in the
        output of ``difficulty="hard"``, which has the ``full_name`` column.
    ascii_style : {"strip", "transliterate"}
        How ``upper_ascii`` removes accents: drop them (Müller -> MULLER) or
        transliterate them (Müller -> MUELLER, Dijkstra -> DYKSTRA).
    placeholder : Mapping[str, float]
        Extra per-field probability of a junk placeholder (test@test.com,
        0000000000) in this system, on top of ``Corruptions.placeholder``.
    """

    name: str
    weight: float
    id_prefix: str
    id_digits: int
    id_offset: int = 0
    id_scrambled: bool = False
    date_style: str = "iso"
    phone_style: int | None = _PHONE_INTL
    upper_ascii: bool = False
    country_style: Literal["iso2", "name"] = "iso2"
    missing: Mapping[str, float] = field(default_factory=dict)
    name_layout: Literal["split", "packed"] = "split"
    ascii_style: Literal["strip", "transliterate"] = "strip"
    placeholder: Mapping[str, float] = field(default_factory=dict)


#: Source systems in the order ``n_sources`` takes them.
SOURCES: tuple[SourceSystem, ...] = (
    SourceSystem("crm", 0.35, "CRM-", 8, 1, date_style="iso", phone_style=_PHONE_INTL),
    SourceSystem(
        "erp",
        0.25,
        "",
        7,
        1_000_000,
        date_style="dmy_slash",
        phone_style=_PHONE_COMPACT,
        upper_ascii=True,
        country_style="name",
        missing={"email": 0.3},
    ),
    SourceSystem(
        "webshop",
        0.25,
        "WS",
        10,
        id_scrambled=True,
        date_style="iso",
        phone_style=None,
        missing={"date_of_birth": 0.4},
    ),
    SourceSystem(
        "support",
        0.15,
        "SUP",
        7,
        1,
        date_style="mdy_slash",
        phone_style=_PHONE_NATIONAL,
        country_style="name",
        missing={
            "date_of_birth": 0.6,
            "street_address": 0.4,
            "postcode": 0.4,
            "city": 0.3,
        },
    ),
    SourceSystem(
        "billing",
        0.15,
        "BIL-",
        9,
        100,
        date_style="dmy_dot",
        phone_style=_PHONE_E164,
        missing={"email": 0.1},
    ),
    SourceSystem(
        "marketing",
        0.15,
        "MKT",
        8,
        id_scrambled=True,
        date_style="ymd_compact",
        phone_style=_PHONE_PUNCT,
        country_style="name",
        missing={"street_address": 0.5, "postcode": 0.3},
    ),
)

#: The source systems of ``difficulty="hard"``: the same systems, shares and
#: record ids as :data:`SOURCES`, with the formats that make real masters hard.
#: The ERP's phone column is numeric (country code, no "+": 442079460958) and
#: it transliterates (MUELLER); the web shop's date of birth is a free-text
#: field typed by customers of eight countries, and its required e-mail field
#: draws placeholders; the support desk keeps one contact-name field
#: ("SMITH, John"), two-digit US-style dates and agents' 0000000000 phones;
#: billing exports timestamps and 00-prefixed numbers; marketing writes
#: 07-Mar-1984 and collects junk addresses from sign-up forms.
HARD_SOURCES: tuple[SourceSystem, ...] = (
    SOURCES[0],
    dataclasses.replace(
        SOURCES[1], phone_style=_PHONE_DIGITS, ascii_style="transliterate"
    ),
    dataclasses.replace(SOURCES[2], date_style="typed", placeholder={"email": 0.02}),
    dataclasses.replace(
        SOURCES[3],
        date_style="mdy_slash_yy",
        name_layout="packed",
        placeholder={"phone": 0.02},
    ),
    dataclasses.replace(SOURCES[4], date_style="iso_datetime", phone_style=_PHONE_IDD),
    dataclasses.replace(SOURCES[5], date_style="d_mon_y", placeholder={"email": 0.01}),
)


def _default_missing() -> dict[str, float]:
    return {
        "first_name": 0.01,
        "surname": 0.005,
        "date_of_birth": 0.1,
        "email": 0.15,
        "phone": 0.2,
        "street_address": 0.05,
        "city": 0.03,
        "postcode": 0.05,
        "country": 0.05,
    }


@dataclass(frozen=True)
class Corruptions:
    """Probabilities of the errors real source systems make.

    Every rate is a per-record probability among the records the corruption can
    apply to (its *eligible* records, given in brackets). Use
    :meth:`Corruptions.none` plus :func:`dataclasses.replace` to switch on a
    single kind.

    Parameters
    ----------
    typo : float
        Insert, delete or substitute (keyboard neighbour) one character, per field
        of ``typo_fields`` [non-null values of at least two characters].
    transposition : float
        Swap two adjacent characters, per field of ``typo_fields`` [as ``typo``].
    nickname : float
        Replace the first name by a nickname from :data:`NICKNAMES` [first names
        with a nickname].
    initial : float
        Abbreviate the first name to its initial, e.g. ``"J."`` [all].
    name_swap : float
        Swap first name and surname [all].
    surname_change : float
        Use the entity's other (married or maiden) surname [female entities].
    move : float
        Use the entity's other address: new street, city and postcode [all].
    dob_swap : float
        Swap day and month of the date of birth [day <= 12 and day != month].
    dob_error : float
        Off-by-one year or day in the date of birth [all].
    dob_placeholder : float
        Unknown date of birth recorded as 1900-01-01 [all].
    phone_format : float
        Write the phone in a layout other than the source's usual one [all].
    email_variant : float
        Upper/Title case, or for Gmail a dot in the local part or a ``+tag``
        [non-null emails].
    case : float
        Type names, street and city in a different case (UPPER, lower, Title)
        [all].
    accent_strip : float
        Drop diacritics (José -> Jose, Łukasz -> Lukasz) from names and address
        [all].
    whitespace : float
        Leading, trailing or doubled space in first name, surname or street
        [all].
    missing : Mapping[str, float]
        Per-field probability of a null [all], before the source systems' own
        extra gaps (:attr:`SourceSystem.missing`).
    typo_fields : tuple of str
        Fields that ``typo`` and ``transposition`` touch.
    transliterate : float
        Write names and address the way an ASCII-only keyboard or system
        does: ä/ö/ü -> ae/oe/ue, ß -> ss, Dutch ij -> y (Müller -> Mueller,
        Dijkstra -> Dykstra), other diacritics dropped (Łukasz -> Lukasz) [all].
    local_move : float
        Share of entities whose other address (``move``) is in the same city:
        a new street and postcode, the city unchanged [all entities].
    move_phone : float
        A moved record (``move``) also has the entity's new phone number:
        the landline goes with the old address [moved records].
    marriage_move : float
        A record with the other surname (``surname_change``) also has the
        other address: marriage and a move come together [surname-changed
        records].
    placeholder : Mapping[str, float]
        Per-field probability (fields of ``PLACEHOLDER_FIELDS``) of a junk
        value shared by many unrelated records: test@test.com, 0000000000,
        "Unknown", ZZ99 9ZZ [all], before the source systems' own extra rates
        (:attr:`SourceSystem.placeholder`).
    dob_placeholders : tuple of str
        ISO dates that ``dob_placeholder`` writes, the first most often
        (Zipf): 1900-01-01, the Unix epoch, the spreadsheet zero date.

    Notes
    -----
    The defaults are the ``"standard"`` profile: the last six rates are off.
    :meth:`Corruptions.hard` gives the rates of ``difficulty="hard"``.
    """

    typo: float = 0.03
    transposition: float = 0.01
    nickname: float = 0.15
    initial: float = 0.02
    name_swap: float = 0.01
    surname_change: float = 0.1
    move: float = 0.15
    dob_swap: float = 0.03
    dob_error: float = 0.01
    dob_placeholder: float = 0.005
    phone_format: float = 0.2
    email_variant: float = 0.1
    case: float = 0.05
    accent_strip: float = 0.05
    whitespace: float = 0.01
    missing: Mapping[str, float] = field(default_factory=_default_missing)
    typo_fields: tuple[str, ...] = TYPO_FIELDS
    transliterate: float = 0.0
    local_move: float = 0.0
    move_phone: float = 0.0
    marriage_move: float = 0.0
    placeholder: Mapping[str, float] = field(default_factory=dict)
    dob_placeholders: tuple[str, ...] = ("1900-01-01",)

    @classmethod
    def none(cls) -> Corruptions:
        """Return a configuration with every corruption and gap switched off.

        Returns
        -------
        Corruptions
            All rates zero; source systems still differ in formats.
        """
        rates = {
            f.name: 0.0 for f in dataclasses.fields(cls) if f.name not in _NON_RATES
        }
        return cls(**rates, missing={}, placeholder={})  # type: ignore[arg-type]

    @classmethod
    def hard(cls) -> Corruptions:
        """Return the rates of ``difficulty="hard"``.

        Returns
        -------
        Corruptions
            The defaults with more of the errors that defeat linkage.

        Notes
        -----
        Reasoning behind the rates (per record unless said otherwise):

        - ``move`` 0.2: 8-11 % of US residents move each year (Census CPS
          2015-2023), fewer in most of Europe; a master built over several
          years holds an old address in one record of five. About 60 % of
          US movers stay in their county (CPS), so half the moves
          (``local_move`` 0.5) keep the city. Of moved records,
          ``move_phone`` 0.6 have the new phone (a landline goes with the
          address; a mobile does not).
        - ``surname_change`` 0.15 of women's records: about 80 % of married
          women in the US use their husband's surname (Pew Research Center,
          2023),
          and a record made before the marriage keeps the maiden name; half
          of them (``marriage_move``) also show the address before it.
        - ``name_swap`` 0.03 and ``initial`` 0.04: call centres and forms
          that ask for "name" swap and shorten names often; both are
          routinely a few per cent in data-quality audits.
        - ``accent_strip`` 0.1 and ``transliterate`` 0.1: systems and
          keyboards without diacritics; German writes ü as ue by convention.
        - ``placeholder`` 0.4 % of e-mails and phones, 0.3 % of streets, 0.2 %
          of postcodes, plus the sources' own (required fields: the web
          shop's e-mail 2 %, the support desk's phone 2 %), and
          ``dob_placeholder`` 0.8 % over four dates. Required fields filled
          to get past a form are a staple of master-data audits; the values
          are the usual ones (test@test.com, noemail@..., 0000000000).
        """
        return cls(
            name_swap=0.03,
            initial=0.04,
            surname_change=0.15,
            move=0.2,
            accent_strip=0.1,
            transliterate=0.1,
            local_move=0.5,
            move_phone=0.6,
            marriage_move=0.5,
            dob_placeholder=0.008,
            placeholder={
                "email": 0.004,
                "phone": 0.004,
                "street_address": 0.003,
                "postcode": 0.002,
            },
            dob_placeholders=("1900-01-01", "1970-01-01", "1899-12-30", "1901-01-01"),
        )


_NON_RATES = frozenset({"missing", "typo_fields", "placeholder", "dob_placeholders"})


def _married_name_default() -> dict[str, float]:
    # Share of married women using the husband's surname, approximate: 0.79
    # in the US (Pew Research Center, 2023), similar in the UK and Poland; a
    # large majority of German couples take the man's name; the Dutch and
    # French use it socially ("nom d'usage") more than legally; in Spain and
    # Italy women keep their own surnames by law and custom.
    return {
        "en_US": 0.8,
        "en_GB": 0.8,
        "de_DE": 0.75,
        "fr_FR": 0.6,
        "es_ES": 0.02,
        "it_IT": 0.05,
        "nl_NL": 0.5,
        "pl_PL": 0.8,
    }


@dataclass(frozen=True)
class Population:
    """Who lives with whom: customers who look alike but are different people.

    Households, twins, junior/senior pairs and namesakes are drawn among the
    entities before any record is made; each member stays its own entity
    (its own ``entity_id``) and copies the attributes it shares with the
    household's head. Rates are shares of entities.

    Parameters
    ----------
    household_rate : float
        Share of entities in a household of two to five customers: same
        street, city and postcode as the head.
    household_sizes : tuple of float
        Relative frequency of households of 2, 3, 4, 5 customers.
    partner_rate : float
        Probability that the second member is the head's partner (else a
        child, parent or sibling: a relative).
    opposite_sex_partner : float
        Probability that a partner is of the other sex than the head.
    married_name : Mapping[str, float]
        Per locale, the probability that a woman partnered with a man uses
        his surname; her own becomes her other (maiden) surname, which the
        ``surname_change`` corruption shows in some of her records.
    partner_keeps_email : float
        Probability that a partner who took the surname keeps the e-mail
        address made from her maiden name.
    relative_shares_surname : float
        Probability that a relative has the head's surname.
    shared_phone : float
        Probability that a member gives the household's landline (the head's
        number) rather than a phone of their own.
    shared_email : float
        Probability that a member gives the head's e-mail address.
    twin_rate : float
        Share of entities that are one of twins: same surname, date of birth
        and address as the co-twin, another first name.
    junior_senior_rate : float
        Share of entities in a father/son pair with one first name and
        surname at one address, 18-45 years apart.
    generation_suffix : float
        Probability that a junior's or senior's record says so in the surname
        field (Smith Jr, Müller jun., Martin fils).
    namesake_rate : float
        Share of entities, otherwise living alone, that have the first name,
        surname and city of another, unrelated entity (frequent names are
        drawn most, as the other entity is drawn uniformly).

    Notes
    -----
    Reasoning behind the defaults: about 85 % of people in the EU and the US
    live with someone (Eurostat and US Census: 2.3 and 2.5 persons per
    household). When a company has a share ``q`` of a population, a customer
    lives with ``1 - (1 - q) ** 1.5`` other customers on average (1.5 other
    persons per multi-person household); family members pick the same
    bank, utility or shop more often than chance, so a quarter of customers
    sharing an address with another (``household_rate`` 0.25) is moderate.
    About 3 % of babies are twins (CDC: 31-33 per 1,000 US births in 2018-2020); both
    twins customers and at one address gives 0.4 %. Fathers and sons of one
    name (Jr/Sr) are a few per cent of US men, fewer elsewhere; 0.4 % of
    entities in such a pair at one address is likewise conservative. Zipf
    first names and surnames already give countrywide namesakes;
    ``namesake_rate`` 0.02 adds namesakes in the same city.
    """

    household_rate: float = 0.25
    household_sizes: tuple[float, ...] = (0.55, 0.25, 0.14, 0.06)
    partner_rate: float = 0.8
    opposite_sex_partner: float = 0.95
    married_name: Mapping[str, float] = field(default_factory=_married_name_default)
    partner_keeps_email: float = 0.5
    relative_shares_surname: float = 0.9
    shared_phone: float = 0.35
    shared_email: float = 0.1
    twin_rate: float = 0.004
    junior_senior_rate: float = 0.004
    generation_suffix: float = 0.15
    namesake_rate: float = 0.02

    @classmethod
    def none(cls) -> Population:
        """Return a population of unrelated entities (the ``"standard"`` profile).

        Returns
        -------
        Population
            No households, twins, junior/senior pairs or namesakes.
        """
        return cls(
            household_rate=0.0, twin_rate=0.0, junior_senior_rate=0.0, namesake_rate=0.0
        )

    @property
    def active(self) -> bool:
        """Whether any entity is related to another."""
        return (
            self.household_rate + self.twin_rate + self.junior_senior_rate
            + self.namesake_rate
        ) > 0  # fmt: skip

    def check(self) -> None:
        """Raise ``ValueError`` on a rate outside [0, 1] or shares over 1."""
        rates = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), float | int)
        }
        rates.update({f"married_name[{k}]": v for k, v in self.married_name.items()})
        bad = sorted(k for k, v in rates.items() if not 0.0 <= float(v) <= 1.0)
        if bad:
            raise ValueError(f"Population rates must be in [0, 1]; got {bad} outside")
        total = self.household_rate + self.twin_rate + self.junior_senior_rate
        if total > 1.0:
            raise ValueError(
                "household_rate + twin_rate + junior_senior_rate must be at most 1; "
                f"got {total:g}"
            )
        sizes = self.household_sizes
        if len(sizes) == 0 or min(sizes) < 0 or sum(sizes) <= 0:
            raise ValueError(
                "household_sizes must be non-negative weights of sizes 2, 3, ...; "
                f"got {self.household_sizes!r}"
            )


@dataclass(frozen=True)
class _Country:
    locale: str
    iso2: str
    name: str
    weight: float
    calling_code: str
    trunk: str
    nsn_prefixes: tuple[str, ...]
    nsn_length: int
    groups: tuple[int, ...]
    street_style: str
    street_affixes: tuple[str, ...]
    street_stems: tuple[str, ...]
    postcode_style: str
    email_domains: tuple[str, ...]
    cities: tuple[tuple[str, str], ...] = ()


_US_CITIES = (
    ("New York", "100"), ("Los Angeles", "900"), ("Chicago", "606"),
    ("Houston", "770"), ("Phoenix", "850"), ("Philadelphia", "191"),
    ("San Antonio", "782"), ("San Diego", "921"), ("Dallas", "752"),
    ("San Jose", "951"), ("Austin", "787"), ("Jacksonville", "322"),
    ("Columbus", "432"), ("Charlotte", "282"), ("Indianapolis", "462"),
    ("San Francisco", "941"), ("Seattle", "981"), ("Denver", "802"),
    ("Boston", "021"), ("Nashville", "372"), ("Detroit", "482"),
    ("Portland", "972"), ("Las Vegas", "891"), ("Memphis", "381"),
    ("Louisville", "402"), ("Baltimore", "212"), ("Milwaukee", "532"),
    ("Albuquerque", "871"), ("Tucson", "857"), ("Fresno", "937"),
    ("Sacramento", "958"), ("Atlanta", "303"), ("Miami", "331"),
    ("Omaha", "681"), ("Raleigh", "276"), ("Minneapolis", "554"),
    ("Cleveland", "441"), ("Tulsa", "741"), ("Pittsburgh", "152"),
    ("Cincinnati", "452"), ("Springfield", "627"), ("Greenville", "296"),
    ("Franklin", "370"), ("Madison", "537"), ("Salem", "973"),
)  # fmt: skip

_GB_CITIES = (
    ("London", "SW"), ("Birmingham", "B"), ("Manchester", "M"), ("Leeds", "LS"),
    ("Glasgow", "G"), ("Liverpool", "L"), ("Bristol", "BS"), ("Sheffield", "S"),
    ("Edinburgh", "EH"), ("Leicester", "LE"), ("Coventry", "CV"),
    ("Bradford", "BD"), ("Cardiff", "CF"), ("Belfast", "BT"),
    ("Nottingham", "NG"), ("Newcastle upon Tyne", "NE"), ("Southampton", "SO"),
    ("Brighton", "BN"), ("Plymouth", "PL"), ("Reading", "RG"), ("Oxford", "OX"),
    ("Cambridge", "CB"), ("York", "YO"), ("Norwich", "NR"), ("Aberdeen", "AB"),
    ("Exeter", "EX"), ("Bath", "BA"), ("Derby", "DE"), ("Stoke-on-Trent", "ST"),
    ("Swansea", "SA"), ("Milton Keynes", "MK"), ("Luton", "LU"),
    ("Portsmouth", "PO"), ("Dundee", "DD"), ("Ipswich", "IP"),
)  # fmt: skip

_FR_CITIES = (
    ("Paris", "75"), ("Marseille", "13"), ("Lyon", "69"), ("Toulouse", "31"),
    ("Nice", "06"), ("Nantes", "44"), ("Montpellier", "34"),
    ("Strasbourg", "67"), ("Bordeaux", "33"), ("Lille", "59"), ("Rennes", "35"),
    ("Reims", "51"), ("Toulon", "83"), ("Saint-Étienne", "42"),
    ("Le Havre", "76"), ("Grenoble", "38"), ("Dijon", "21"), ("Angers", "49"),
    ("Nîmes", "30"), ("Villeurbanne", "69"), ("Clermont-Ferrand", "63"),
    ("Le Mans", "72"), ("Aix-en-Provence", "13"), ("Brest", "29"),
    ("Tours", "37"), ("Amiens", "80"), ("Limoges", "87"), ("Annecy", "74"),
    ("Perpignan", "66"), ("Metz", "57"), ("Besançon", "25"), ("Orléans", "45"),
    ("Rouen", "76"), ("Mulhouse", "68"), ("Caen", "14"), ("Nancy", "54"),
    ("Argenteuil", "95"), ("Montreuil", "93"), ("Roubaix", "59"),
    ("Avignon", "84"),
)  # fmt: skip

_ES_CITIES = (
    ("Madrid", "28"), ("Barcelona", "08"), ("Valencia", "46"), ("Sevilla", "41"),
    ("Zaragoza", "50"), ("Málaga", "29"), ("Murcia", "30"), ("Palma", "07"),
    ("Las Palmas de Gran Canaria", "35"), ("Bilbao", "48"), ("Alicante", "03"),
    ("Córdoba", "14"), ("Valladolid", "47"), ("Vigo", "36"), ("Gijón", "33"),
    ("L'Hospitalet de Llobregat", "08"), ("A Coruña", "15"),
    ("Vitoria-Gasteiz", "01"), ("Granada", "18"), ("Elche", "03"),
    ("Oviedo", "33"), ("Badalona", "08"), ("Cartagena", "30"),
    ("Terrassa", "08"), ("Jerez de la Frontera", "11"), ("Sabadell", "08"),
    ("Móstoles", "28"), ("Santa Cruz de Tenerife", "38"), ("Pamplona", "31"),
    ("Almería", "04"), ("Salamanca", "37"), ("Santander", "39"),
    ("Burgos", "09"), ("Albacete", "02"), ("Logroño", "26"), ("Cádiz", "11"),
)  # fmt: skip

_COUNTRIES: tuple[_Country, ...] = (
    _Country(
        "en_US", "US", "United States", 0.30, "1", "", ("212", "415", "312",
        "617", "713", "206", "305", "404", "702", "503", "214", "602"), 10,
        (3, 3, 4), "num_stem_affix", ("Street", "Avenue", "Road", "Drive",
        "Lane", "Court", "Boulevard", "Place", "Way", "Circle", "Terrace"),
        ("Main", "Oak", "Maple", "Park", "Washington", "Pine", "Cedar", "Elm",
        "Lake", "Hill", "2nd", "3rd"), "us", ("gmail.com", "yahoo.com",
        "hotmail.com", "aol.com", "outlook.com", "icloud.com", "comcast.net"),
        _US_CITIES,
    ),
    _Country(
        "en_GB", "GB", "United Kingdom", 0.20, "44", "0", ("20", "20", "20", "23",
        "24", "28", "29"), 10, (2, 4, 4),
        "num_stem_affix", ("Road", "Street", "Lane", "Close", "Avenue", "Drive",
        "Way", "Gardens", "Crescent", "Grove", "Place", "Court"), ("High",
        "Church", "Station", "Victoria", "Park", "Mill", "Queen's", "King's",
        "Manor", "New"), "gb", ("gmail.com", "hotmail.co.uk", "yahoo.co.uk",
        "btinternet.com", "outlook.com", "sky.com", "live.co.uk"),
        _GB_CITIES,
    ),
    _Country(
        "de_DE", "DE", "Germany", 0.12, "49", "0", ("151", "152", "157", "160",
        "162", "170", "171", "172", "176", "177", "178"), 10, (3, 7), "stem_affix_num",
        ("straße", "weg", "allee", "platz", "ring", "gasse"), ("Haupt",
        "Bahnhof", "Schul", "Garten", "Dorf", "Kirch", "Berg", "Linden",
        "Goethe", "Schiller"), "de", ("gmx.de", "web.de", "gmail.com",
        "t-online.de", "freenet.de", "yahoo.de", "outlook.de"),
    ),
    _Country(
        "fr_FR", "FR", "France", 0.10, "33", "0", ("6", "7", "1", "4", "5"), 9,
        (1, 2, 2, 2, 2), "num_affix_stem", ("rue", "avenue", "boulevard",
        "place", "chemin", "impasse", "allée"), ("de la République",
        "Victor Hugo", "Jean Jaurès", "de la Gare", "Pasteur",
        "du Général de Gaulle", "de l'Église", "des Écoles"), "fr",
        ("orange.fr", "gmail.com", "free.fr", "laposte.net", "sfr.fr",
        "hotmail.fr", "wanadoo.fr"), _FR_CITIES,
    ),
    _Country(
        "es_ES", "ES", "Spain", 0.08, "34", "", ("6", "7", "9"), 9, (3, 3, 3),
        "affix_stem_comma_num", ("Calle", "Avenida", "Paseo", "Plaza", "Camino",
        "Ronda"), ("Mayor", "Real", "de la Constitución", "San Juan", "del Sol",
        "Nueva"), "es", ("gmail.com", "hotmail.es", "yahoo.es",
        "telefonica.net", "outlook.es"), _ES_CITIES,
    ),
    _Country(
        "it_IT", "IT", "Italy", 0.08, "39", "", ("3",), 10, (3, 3, 4),
        "affix_stem_num", ("Via", "Viale", "Piazza", "Corso", "Vicolo",
        "Largo"), ("Roma", "Garibaldi", "Giuseppe Mazzini", "Vittorio Emanuele",
        "Cavour", "Dante", "XX Settembre", "Marconi"), "it", ("gmail.com",
        "libero.it", "virgilio.it", "alice.it", "hotmail.it", "tiscali.it"),
    ),
    _Country(
        "nl_NL", "NL", "Netherlands", 0.06, "31", "0", ("6",),
        9, (1, 4, 4), "stem_affix_num", ("straat", "laan", "weg", "plein",
        "gracht", "dijk", "kade", "singel"), ("Kerk", "Molen", "Dorps",
        "School", "Stations", "Juliana", "Beatrix", "Wilhelmina", "Oranje"),
        "nl", ("gmail.com", "ziggo.nl", "kpnmail.nl", "hotmail.com",
        "outlook.com", "planet.nl"),
    ),
    _Country(
        "pl_PL", "PL", "Poland", 0.06, "48", "", ("5", "6", "7", "8"), 9,
        (3, 3, 3), "affix_stem_num", ("ul.", "al.", "pl.", "os."), ("Mickiewicza",
        "Kościuszki", "Słowackiego", "Polna", "Leśna", "Lipowa", "Kwiatowa",
        "Ogrodowa", "Szkolna", "Długa", "Sienkiewicza", "Jana Pawła II"), "pl",
        ("gmail.com", "wp.pl", "onet.pl", "o2.pl", "interia.pl"),
    ),
)  # fmt: skip

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_POST_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_EMAIL_TAGS = ("shop", "news", "promo", "orders", "spam", "2024", "amazon")
_ASCII_MAP = str.maketrans(
    {"ł": "l", "Ł": "L", "ß": "ss", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE",
     "œ": "oe", "Œ": "OE", "đ": "d", "Đ": "D"}
)  # fmt: skip
_VOCAB_SEED = 20_240_917  # fixes the popularity ranks of vocabularies
#: Locales whose faker city list is made from a set (it_IT: ``list({...})``).
_UNORDERED_CITY_LISTS = frozenset({"it_IT"})


# --------------------------------------------------------------------------
# Vocabulary (read once from faker)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pool:
    """Indices into a string table with Zipf-like sampling weights."""

    idx: np.ndarray
    p: np.ndarray

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return self.idx[rng.choice(self.idx.size, size=size, p=self.p)]


@dataclass(frozen=True)
class _LocaleVocab:
    first_male: _Pool
    first_female: _Pool
    surname_male: _Pool
    surname_female: _Pool
    streets: pl.Series
    street_pool: _Pool
    cities: pl.Series
    city_codes: pl.Series
    city_pool: _Pool


@dataclass(frozen=True)
class _Vocab:
    names: pl.Series  # global table of first names, surnames and nicknames
    ascii: pl.Series  # lower-case ASCII of ``names`` for e-mail addresses
    nick_start: np.ndarray
    nick_count: np.ndarray
    nick_target: np.ndarray
    locales: tuple[_LocaleVocab, ...]
    to_female: np.ndarray  # surname index -> its feminine form (Polish -ski/-ska)
    to_male: np.ndarray  # and back; the identity elsewhere


def _to_ascii(s: str) -> str:
    folded = unicodedata.normalize("NFKD", s.translate(_ASCII_MAP))
    return "".join(c for c in folded if not unicodedata.combining(c))


def _zipf_weights(n: int, exponent: float = 1.0) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent
    return w / w.sum()


def _ranked(values: object, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """Order a faker list by popularity and attach Zipf-like weights."""
    if isinstance(values, Mapping):
        names = [str(k) for k in values]
        w = np.asarray([float(v) for v in values.values()], dtype=np.float64)
        return names, w / w.sum()
    names = list(dict.fromkeys(str(v) for v in values))  # type: ignore[attr-defined]
    ordered = sum(a <= b for a, b in itertools.pairwise(names))
    if ordered > 0.75 * max(1, len(names) - 1):  # alphabetical: no rank info
        names = [names[i] for i in rng.permutation(len(names))]
    return names, _zipf_weights(len(names))


def _feminine_pl(surname: str) -> str:
    for male, female in (("ski", "ska"), ("cki", "cka"), ("dzki", "dzka")):
        if surname.endswith(male):
            return surname[: -len(male)] + female
    return surname


def _genitive_pl(surname: str) -> str:
    for male, gen in (("ski", "skiego"), ("cki", "ckiego")):
        if surname.endswith(male):
            return surname[: -len(male)] + gen
    return surname


@functools.cache
def _vocab() -> _Vocab:
    """Read and rank the faker vocabularies once per process."""
    rng = np.random.default_rng(_VOCAB_SEED)
    table: dict[str, int] = {}

    def intern(names: Sequence[str]) -> np.ndarray:
        return np.asarray(
            [table.setdefault(n, len(table)) for n in names], dtype=np.int32
        )

    def pool(names: Sequence[str], p: np.ndarray) -> _Pool:
        return _Pool(intern(names), p)

    locales = []
    for country in _COUNTRIES:
        person = importlib.import_module(
            f"faker.providers.person.{country.locale}"
        ).Provider
        fm, pfm = _ranked(person.first_names_male, rng)
        ff, pff = _ranked(person.first_names_female, rng)
        if country.locale == "pl_PL":  # faker keeps Polish surnames apart
            male, _ = _ranked(person.male_last_names, rng)
            uni, _ = _ranked(person.unisex_last_names, rng)
            sm = male + uni
            psm = _zipf_weights(len(sm))
            sf = [_feminine_pl(s) for s in male] + uni
            psf = psm
        else:
            sm, psm = _ranked(person.last_names, rng)
            sf, psf = sm, psm
        # Streets: common local stems first, then surnames as stems.
        stems = list(country.street_stems) + [
            _genitive_pl(s) if country.locale == "pl_PL" else s for s in sm[:300]
        ]
        stems = list(dict.fromkeys(stems))
        # Cities: the embedded table, else faker's list with made-up area codes.
        if country.cities:
            cities = [c for c, _ in country.cities]
            codes = [code for _, code in country.cities]
            pcity = _zipf_weights(len(cities), 1.1)
        else:
            address = importlib.import_module(
                f"faker.providers.address.{country.locale}"
            ).Provider
            faker_cities = address.cities
            if country.locale in _UNORDERED_CITY_LISTS:
                # faker builds this list from a set, so its order changed with
                # PYTHONHASHSEED: fix it (a shuffle that is not alphabetical,
                # so _ranked keeps it and draws nothing from ``rng``).
                alphabetical = sorted(faker_cities)
                shuffle = np.random.default_rng(_VOCAB_SEED + 1).permutation(
                    len(alphabetical)
                )
                faker_cities = [alphabetical[i] for i in shuffle]
            cities, pcity = _ranked(faker_cities, rng)
            cities, pcity = cities[:1500], _zipf_weights(min(len(cities), 1500), 1.1)
            width = 2 if country.postcode_style in {"nl", "pl"} else 3
            low = 10 if country.postcode_style == "nl" else 1
            codes = [
                str(int(c)).zfill(width)
                for c in rng.integers(low, 10**width - 1, len(cities))
            ]
        locales.append(
            _LocaleVocab(
                first_male=pool(fm, pfm),
                first_female=pool(ff, pff),
                surname_male=pool(sm, psm),
                surname_female=pool(sf, psf),
                streets=pl.Series(stems, dtype=pl.String),
                street_pool=_Pool(
                    np.arange(len(stems)), _zipf_weights(len(stems), 0.9)
                ),
                cities=pl.Series(cities, dtype=pl.String),
                city_codes=pl.Series(codes, dtype=pl.String),
                city_pool=_Pool(np.arange(len(cities)), pcity),
            )
        )
    formal = intern([f for f, _ in NICKNAMES])
    nick = intern([n for _, n in NICKNAMES])
    names = list(table)
    order = np.argsort(formal, kind="stable")
    nick_count = np.bincount(formal, minlength=len(names)).astype(np.int32)
    nick_start = (np.cumsum(nick_count) - nick_count).astype(np.int64)
    ascii_names = [
        "".join(c for c in _to_ascii(n).lower() if c.isascii() and c.isalnum())
        for n in names
    ]
    to_female = np.arange(len(names), dtype=np.int32)
    to_male = to_female.copy()
    for voc in locales:  # the male and female pools are aligned by rank
        to_female[voc.surname_male.idx] = voc.surname_female.idx
        to_male[voc.surname_female.idx] = voc.surname_male.idx
    return _Vocab(
        names=pl.Series("names", names, dtype=pl.String),
        ascii=pl.Series("ascii", ascii_names, dtype=pl.String),
        nick_start=nick_start,
        nick_count=nick_count,
        nick_target=nick[order],
        locales=tuple(locales),
        to_female=to_female,
        to_male=to_male,
    )


# --------------------------------------------------------------------------
# Vectorised helpers
# --------------------------------------------------------------------------


def _by_group(
    keys: np.ndarray, build: Callable[[int, np.ndarray], pl.Series]
) -> pl.Series:
    """Build a column group by group, then restore row order.

    Parameters
    ----------
    keys : numpy.ndarray
        Integer group key per row.
    build : callable
        ``build(key, rows)`` returns the values for ``rows`` (same order).

    Returns
    -------
    polars.Series
        One value per row of ``keys``.
    """
    n = keys.size
    if n == 0:
        return pl.Series([], dtype=pl.String)
    order = np.argsort(keys, kind="stable")
    uniq, starts = np.unique(keys[order], return_index=True)
    ends = np.append(starts[1:], n)
    parts = [
        build(int(k), order[s:e]) for k, s, e in zip(uniq, starts, ends, strict=True)
    ]
    values = pl.concat([p.cast(pl.String).rename("") for p in parts])
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    return values.gather(inverse)


def _replace(base: pl.Series, rows: np.ndarray, new: pl.Series) -> pl.Series:
    """Return ``base`` with ``rows`` replaced by ``new``."""
    if rows.size == 0:
        return base
    mapping = np.arange(base.len(), dtype=np.int64)
    mapping[rows] = base.len() + np.arange(rows.size)
    stacked = pl.concat([base, new.cast(base.dtype).rename(base.name)])
    return stacked.gather(mapping)


def _digits(rng: np.random.Generator, n: int, width: int) -> pl.Series:
    """Random zero-padded digit strings of a fixed width."""
    values = rng.integers(0, 10**width, n, dtype=np.int64)
    return pl.Series(values).cast(pl.String).str.zfill(width)


def _letters(rng: np.random.Generator, n: int, alphabet: str = _LETTERS) -> pl.Series:
    return pl.Series(list(alphabet), dtype=pl.String).gather(
        rng.integers(0, len(alphabet), n)
    )


def _keyboard_neighbours() -> dict[str, str]:
    rows = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
    out: dict[str, str] = {}
    for r, row in enumerate(rows):
        for i, ch in enumerate(row):
            near = [row[j] for j in (i - 1, i + 1) if 0 <= j < len(row)]
            if r >= 1:
                for rr in (r - 1, r + 1):
                    if 1 <= rr < len(rows):
                        near += [
                            rows[rr][j] for j in (i - 1, i) if 0 <= j < len(rows[rr])
                        ]
            out[ch] = "".join(dict.fromkeys(near))
            if ch.isalpha():
                out[ch.upper()] = out[ch].upper()
    return out


_NEIGHBOURS = _keyboard_neighbours()


def _typo(values: pl.Series, rng: np.random.Generator) -> pl.Series:
    """Insert, delete or substitute one character of each (non-empty) value."""
    n = values.len()
    length = values.str.len_chars().to_numpy()
    frame = pl.DataFrame(
        {
            "s": values,
            "pos": (rng.random(n) * length).astype(np.int64),
            "op": rng.integers(0, 3, n),
            "u": rng.random(n),
            "rand": _letters(rng, n),
        }
    )
    s, pos = pl.col("s"), pl.col("pos")
    near = s.str.slice(pos, 1).replace_strict(_NEIGHBOURS, default="")
    pick = near.str.slice((pl.col("u") * near.str.len_chars()).cast(pl.Int64), 1)
    char = pl.when(near.str.len_chars() > 0).then(pick).otherwise(pl.col("rand"))
    head, rest = s.str.slice(0, pos), s.str.slice(pos + 1)
    out = (
        pl.when(pl.col("op") == 0)
        .then(pl.concat_str([head, char, s.str.slice(pos)]))
        .when(pl.col("op") == 1)
        .then(pl.concat_str([head, rest]))
        .otherwise(pl.concat_str([head, char, rest]))
    )
    return frame.select(out.alias("s")).to_series()


def _transpose(values: pl.Series, rng: np.random.Generator) -> pl.Series:
    """Swap two adjacent characters of each value (length >= 2)."""
    n = values.len()
    length = values.str.len_chars().to_numpy()
    frame = pl.DataFrame(
        {"s": values, "pos": (rng.random(n) * (length - 1)).astype(np.int64)}
    )
    s, pos = pl.col("s"), pl.col("pos")
    out = pl.concat_str(
        [
            s.str.slice(0, pos),
            s.str.slice(pos + 1, 1),
            s.str.slice(pos, 1),
            s.str.slice(pos + 2),
        ]
    )
    return frame.select(out.alias("s")).to_series()


def _strip_accents(values: pl.Series) -> pl.Series:
    return (
        values.str.replace_many(
            ["ł", "Ł", "ß", "ø", "Ø", "æ", "Æ", "œ", "Œ", "đ", "Đ"],
            ["l", "L", "ss", "o", "O", "ae", "AE", "oe", "OE", "d", "D"],
        )
        .str.normalize("NFKD")
        .str.replace_all(r"\p{Mn}", "")
    )


def _mask(rng: np.random.Generator, p: float, n: int) -> np.ndarray:
    if p <= 0.0:
        return np.zeros(n, dtype=bool)
    return rng.random(n) < p


def _cluster_sizes(
    rng: np.random.Generator,
    n_records: int,
    singleton_rate: float,
    duplicate_zipf_a: float,
    max_cluster_size: int,
) -> np.ndarray:
    """Draw records per entity (1, else ``1 + Zipf(a)``) summing to n."""
    mean = singleton_rate + (1 - singleton_rate) * 2.5
    chunks: list[np.ndarray] = []
    total = 0
    while total < n_records:
        k = int((n_records - total) / mean * 1.1) + 16
        sizes = 1 + rng.zipf(duplicate_zipf_a, k)
        sizes[rng.random(k) < singleton_rate] = 1
        sizes = np.minimum(sizes, max_cluster_size)
        chunks.append(sizes)
        total += int(sizes.sum())
    sizes = np.concatenate(chunks)
    csum = np.cumsum(sizes)
    last = int(np.searchsorted(csum, n_records))
    sizes = sizes[: last + 1].copy()
    sizes[-1] -= int(csum[last]) - n_records
    return sizes


# --------------------------------------------------------------------------
# Entities
# --------------------------------------------------------------------------


def _street(
    country: _Country, voc: _LocaleVocab, rng: np.random.Generator, n: int
) -> pl.Series:
    stem = voc.streets.gather(voc.street_pool.sample(rng, n))
    affixes = pl.Series(country.street_affixes, dtype=pl.String)
    affix = affixes.gather(
        rng.choice(len(affixes), n, p=_zipf_weights(len(affixes), 0.8))
    )
    number = pl.Series(np.exp(rng.uniform(0, np.log(300), n)).astype(np.int64)).cast(
        pl.String
    )
    frame = pl.DataFrame({"stem": stem, "affix": affix, "num": number})
    st, af, nu = pl.col("stem"), pl.col("affix"), pl.col("num")
    layout = {
        "num_stem_affix": [nu, pl.lit(" "), st, pl.lit(" "), af],
        "stem_affix_num": [st, af, pl.lit(" "), nu],
        "num_affix_stem": [nu, pl.lit(" "), af, pl.lit(" "), st],
        "affix_stem_comma_num": [af, pl.lit(" "), st, pl.lit(", "), nu],
        "affix_stem_num": [af, pl.lit(" "), st, pl.lit(" "), nu],
    }[country.street_style]
    return frame.select(pl.concat_str(layout).alias("s")).to_series()


def _city_postcode(
    country: _Country,
    voc: _LocaleVocab,
    rng: np.random.Generator,
    n: int,
    ci: np.ndarray | None = None,
) -> tuple[pl.Series, pl.Series]:
    """Draw ``n`` cities (or take city indices ``ci``) and a postcode in each."""
    if ci is None:
        ci = voc.city_pool.sample(rng, n)
    code = voc.city_codes.gather(ci)
    style = country.postcode_style
    if style == "gb":
        district = pl.Series(rng.integers(1, 20, n)).cast(pl.String)
        inward = _letters(rng, n, _POST_LETTERS) + _letters(rng, n, _POST_LETTERS)
        parts = [code, district, pl.Series([" "] * n), _digits(rng, n, 1), inward]
    elif style == "fr":
        parts = [code, _digits(rng, n, 2), pl.Series(["0"] * n)]
    elif style == "es":
        parts = [code, _digits(rng, n, 3)]
    elif style == "nl":
        tail = _letters(rng, n, _POST_LETTERS) + _letters(rng, n, _POST_LETTERS)
        parts = [code, _digits(rng, n, 2), pl.Series([" "] * n), tail]
    elif style == "pl":
        parts = [code, pl.Series(["-"] * n), _digits(rng, n, 3)]
    else:  # us, de, it: three-digit area plus two digits
        parts = [code, _digits(rng, n, 2)]
    frame = pl.DataFrame({str(i): p for i, p in enumerate(parts)})
    postcode = frame.select(pl.concat_str(pl.all()).alias("p")).to_series()
    return voc.cities.gather(ci), postcode


def _emails(
    country: _Country,
    vocab: _Vocab,
    rng: np.random.Generator,
    first: np.ndarray,
    surname: np.ndarray,
    year: np.ndarray,
) -> pl.Series:
    n = first.size
    domains = pl.Series(country.email_domains, dtype=pl.String)
    frame = pl.DataFrame(
        {
            "f": vocab.ascii.gather(first),
            "l": vocab.ascii.gather(surname),
            "y2": pl.Series(year % 100).cast(pl.String).str.zfill(2),
            "y4": pl.Series(year).cast(pl.String),
            "k": pl.Series(rng.integers(1, 1000, n)).cast(pl.String),
            "d": domains.gather(
                rng.choice(len(domains), n, p=_zipf_weights(len(domains), 1.2))
            ),
            "pat": rng.choice(8, n, p=[0.3, 0.1, 0.1, 0.1, 0.05, 0.15, 0.1, 0.1]),
        }
    )
    f, la, y2, y4, k = (pl.col(c) for c in ("f", "l", "y2", "y4", "k"))
    initial = f.str.slice(0, 1)
    locals_ = [
        [f, pl.lit("."), la],
        [f, la],
        [initial, pl.lit("."), la],
        [initial, la],
        [f, pl.lit("_"), la],
        [f, pl.lit("."), la, y2],
        [f, y4],
        [la, pl.lit("."), f, k],
    ]
    pat = pl.col("pat")
    expr: Any = pl.when(pat == 0).then(pl.concat_str(locals_[0]))
    for i, parts in enumerate(locals_[1:], start=1):
        expr = expr.when(pat == i).then(pl.concat_str(parts))
    local = expr.otherwise(pl.concat_str(locals_[0]))
    # An address belongs to one person: a provider refuses a taken local part,
    # so namesakes pick another (here: the first keeps it, later ones add a
    # number), as they do in real customer data.
    emails = frame.select(
        local.alias("local"),
        pl.col("d"),
        (local + pl.lit("@") + pl.col("d")).alias("e"),
    )
    taken = pl.int_range(pl.len()).over("e")
    return emails.select(
        pl.when(taken == 0)
        .then(pl.col("e"))
        .otherwise(
            pl.concat_str(
                [pl.col("local"), (taken + 1).cast(pl.String), pl.lit("@"), pl.col("d")]
            )
        )
        .alias("email")
    ).to_series()


def _nsn(country: _Country, rng: np.random.Generator, n: int) -> pl.Series:
    """Random national significant numbers (phone numbers without prefixes)."""
    prefixes = pl.Series(country.nsn_prefixes, dtype=pl.String)
    prefix = prefixes.gather(rng.integers(0, len(prefixes), n))
    nsn = pl.DataFrame({"p": prefix, "r": _digits(rng, n, country.nsn_length)})
    return nsn.select(
        pl.concat_str("p", "r").str.slice(0, country.nsn_length)
    ).to_series()


_DOB_LO = int(np.datetime64("1935-01-01").astype(np.int64))
_DOB_HI = int(np.datetime64("2007-12-31").astype(np.int64))


def _entities(
    rng: np.random.Generator, n_entities: int, weights: np.ndarray
) -> pl.DataFrame:
    """Clean entity attributes, one row per entity in random (id) order."""
    vocab = _vocab()
    per_locale = rng.multinomial(n_entities, weights)
    lo = np.datetime64("1935-01-01").astype(np.int64)
    hi = np.datetime64("2007-12-31").astype(np.int64)
    frames = []
    for li, (country, voc, n) in enumerate(
        zip(_COUNTRIES, vocab.locales, per_locale, strict=True)
    ):
        if n == 0:
            continue
        n = int(n)
        female = rng.random(n) < 0.5
        first = np.where(
            female, voc.first_female.sample(rng, n), voc.first_male.sample(rng, n)
        )
        surname = np.where(
            female, voc.surname_female.sample(rng, n), voc.surname_male.sample(rng, n)
        )
        alt_surname = np.where(
            female, voc.surname_female.sample(rng, n), voc.surname_male.sample(rng, n)
        )
        dob = rng.integers(lo, hi + 1, n)
        year = dob.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64)
        nsn_s = _nsn(country, rng, n)
        city, postcode = _city_postcode(country, voc, rng, n)
        alt_city, alt_postcode = _city_postcode(country, voc, rng, n)
        frames.append(
            pl.DataFrame(
                {
                    "locale": np.full(n, li, dtype=np.int8),
                    "female": female,
                    "first": first.astype(np.int32),
                    "surname": surname.astype(np.int32),
                    "alt_surname": alt_surname.astype(np.int32),
                    "dob": dob.astype(np.int32),
                    "phone": nsn_s,
                    "email": _emails(country, vocab, rng, first, surname, year + 1970),
                    "street": _street(country, voc, rng, n),
                    "city": city,
                    "postcode": postcode,
                    "alt_street": _street(country, voc, rng, n),
                    "alt_city": alt_city,
                    "alt_postcode": alt_postcode,
                }
            )
        )
    entities = pl.concat(frames)
    return entities[rng.permutation(entities.height)]


# --------------------------------------------------------------------------
# Population: households, twins, junior/senior pairs, namesakes
# --------------------------------------------------------------------------

_YEAR_DAYS = 365.25
_UNIT_SINGLE, _UNIT_FAMILY, _UNIT_TWINS, _UNIT_JRSR = range(4)


def _units(
    rng: np.random.Generator, locale: np.ndarray, pop: Population
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group entities into units (singles, households, pairs) of one locale each.

    Returns
    -------
    tuple of numpy.ndarray
        Per entity: the unit's first entity (its head), the position in the
        unit (0 for the head) and the unit kind (``_UNIT_*``).
    """
    n = locale.size
    q = np.asarray(pop.household_sizes, dtype=np.float64)
    q = q / q.sum()
    family_sizes = np.arange(2, 2 + q.size)
    shares = np.asarray(
        [
            1.0 - pop.household_rate - pop.twin_rate - pop.junior_senior_rate,
            pop.household_rate,
            pop.twin_rate,
            pop.junior_senior_rate,
        ]
    )
    mean_size = np.asarray([1.0, float((family_sizes * q).sum()), 2.0, 2.0])
    p_kind = shares / mean_size  # units of a kind, for the entity shares
    p_kind = p_kind / p_kind.sum()
    kinds_parts, sizes_parts, total = [], [], 0
    while total < n:
        k = int((n - total) / float((p_kind * mean_size).sum()) * 1.05) + 16
        kinds = rng.choice(4, k, p=p_kind)
        sizes = np.ones(k, dtype=np.int64)
        family = kinds == _UNIT_FAMILY
        sizes[family] = rng.choice(family_sizes, int(family.sum()), p=q)
        sizes[kinds >= _UNIT_TWINS] = 2
        kinds_parts.append(kinds)
        sizes_parts.append(sizes)
        total += int(sizes.sum())
    kinds, sizes = np.concatenate(kinds_parts), np.concatenate(sizes_parts)
    slot_unit = np.repeat(np.arange(kinds.size), sizes)[:n]
    # Members are consecutive entities of one locale, in random order; a unit
    # that straddles two locales is cut in two.
    order = rng.permutation(n)
    order = order[np.argsort(locale[order], kind="stable")]
    loc = locale[order]
    start = np.ones(n, dtype=bool)
    start[1:] = (slot_unit[1:] != slot_unit[:-1]) | (loc[1:] != loc[:-1])
    unit = np.cumsum(start) - 1
    first = np.flatnonzero(start)
    kind_u = kinds[slot_unit[first]]
    kind_u[np.diff(np.append(first, n)) == 1] = _UNIT_SINGLE
    head, pos, kind = (np.empty(n, dtype=np.int64) for _ in range(3))
    head[order] = order[first[unit]]
    pos[order] = np.arange(n) - first[unit]
    kind[order] = kind_u[unit]
    return head, pos, kind


def _draw_first(
    vocab: _Vocab, rng: np.random.Generator, locale: np.ndarray, female: np.ndarray
) -> np.ndarray:
    """Draw a first name per entity from its locale's pool for its sex."""
    out = np.empty(locale.size, dtype=np.int32)
    for li, voc in enumerate(vocab.locales):
        for fem, pool in ((True, voc.first_female), (False, voc.first_male)):
            rows = np.flatnonzero((locale == li) & (female == fem))
            if rows.size:
                out[rows] = pool.sample(rng, rows.size)
    return out


def _gendered(vocab: _Vocab, surname: np.ndarray, female: np.ndarray) -> np.ndarray:
    """Return each surname in the form for the sex (Kowalski -> Kowalska)."""
    return np.where(
        female, vocab.to_female[vocab.to_male[surname]], vocab.to_male[surname]
    ).astype(np.int32)


def _days_to_year(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def _mailbox(email: pl.Series) -> pl.Series:
    """Return the mailbox each address reaches: lower case, Gmail without dots."""
    low = pl.col("e").str.to_lowercase()
    at = low.str.find("@")
    local, domain = low.str.slice(0, at), low.str.slice(at)
    gmail = domain.is_in(["@gmail.com", "@googlemail.com"])
    key = pl.when(gmail).then(
        local.str.replace_all(".", "", literal=True) + pl.lit("@gmail.com")
    )
    return pl.DataFrame({"e": email}).select(key.otherwise(low)).to_series()


def _unique_emails(
    rng: np.random.Generator, email: pl.Series, new: np.ndarray
) -> pl.Series:
    """Give addresses that reach another entity's mailbox a number.

    ``new`` addresses yield to the others; among the others, the first of a
    mailbox keeps it (the standard stream's addresses are unique per
    country only, and Gmail ignores dots: john.smith@ is johnsmith@).
    """
    key = _mailbox(email)
    new = new | ~key.is_first_distinct().to_numpy()
    accepted = key.filter(pl.Series(~new)).drop_nulls()
    pending = np.flatnonzero(new & email.is_not_null().to_numpy())
    for _ in range(8):
        if pending.size == 0:
            break
        cand = key.gather(pl.Series(pending))
        # Hash the smaller side: after the first round few addresses remain.
        if cand.len() < accepted.len() // 4:
            hit = accepted.filter(accepted.is_in(cand.implode()))
            clash = cand.is_in(hit.implode())
        else:
            clash = cand.is_in(accepted.implode())
        clash = clash | ~cand.is_first_distinct()
        clash_np = clash.to_numpy()
        accepted = pl.concat([accepted, cand.filter(~clash)])
        pending = pending[clash_np]
        sub = pl.DataFrame(
            {
                "e": email.gather(pl.Series(pending)),
                "k": pl.Series(rng.integers(2, 1000, pending.size)).cast(pl.String),
            }
        )
        at = pl.col("e").str.find("@")
        renamed = sub.select(
            pl.concat_str(
                [pl.col("e").str.slice(0, at), pl.col("k"), pl.col("e").str.slice(at)]
            )
        ).to_series()
        email = _replace(email, pending, renamed)
        key = _replace(key, pending, _mailbox(renamed))
    return email


def _populate(
    ent: pl.DataFrame, pop: Population, rng: np.random.Generator
) -> pl.DataFrame:
    """Make households, twins, junior/senior pairs and namesakes among entities.

    Every entity keeps its row (its ``entity_id``); members of a unit copy
    what they share from the unit's head. Adds ``household`` (the head's
    entity id, or the entity's own), ``relation`` (index into
    :data:`RELATIONS`) and ``namesake_of`` (-1 if none).
    """
    vocab = _vocab()
    n = ent.height
    locale = ent["locale"].to_numpy().astype(np.int64)
    female = ent["female"].to_numpy().copy()
    first = ent["first"].to_numpy().copy()
    surname = ent["surname"].to_numpy().copy()
    alt_surname = ent["alt_surname"].to_numpy().copy()
    dob = ent["dob"].to_numpy().astype(np.int64)
    first0, surname0 = first.copy(), surname.copy()

    head, pos, kind = _units(rng, locale, pop)
    member = pos > 0
    family = kind == _UNIT_FAMILY
    relation = np.full(n, _SINGLE, dtype=np.int8)
    relation[family & ~member] = _HEAD
    partner = family & (pos == 1) & (rng.random(n) < pop.partner_rate)
    relative = family & member & ~partner
    relation[partner] = _PARTNER
    relation[relative] = _RELATIVE
    twin = (kind == _UNIT_TWINS) & member
    relation[kind == _UNIT_TWINS] = _TWIN
    jrsr = kind == _UNIT_JRSR
    junior = jrsr & member

    # Sex: partners mostly of the other sex than the head, junior/senior men.
    target = np.where(
        rng.random(n) < pop.opposite_sex_partner, ~female[head], female[head]
    )
    flip = (partner & (female != target)) | (jrsr & female)
    female = np.where(flip, ~female, female)
    first[flip] = _draw_first(vocab, rng, locale[flip], female[flip])
    surname[flip] = _gendered(vocab, surname[flip], female[flip])
    alt_surname[flip] = _gendered(vocab, alt_surname[flip], female[flip])

    # Dates of birth: partners near the head's age, relatives a generation
    # apart (either way), twins on the same day, juniors 18-45 years younger.
    base = dob[head]
    gap = (rng.uniform(18, 45, n) * _YEAR_DAYS).astype(np.int64)
    above, below = _DOB_HI - base, base - _DOB_LO
    # Where neither side has room for the gap, take a shorter one (still over
    # 18 years: the range spans 73) on the roomier side; never a clipped date.
    room = np.maximum(above, below)
    gap = np.where(gap > room, (room * rng.uniform(0.5, 1.0, n)).astype(np.int64), gap)
    generation = np.where(gap <= above, base + gap, base - gap)
    near = base + (rng.normal(0, 3, n) * _YEAR_DAYS).astype(np.int64)
    near = np.where(near > _DOB_HI, 2 * _DOB_HI - near, near)  # reflect, not clip
    near = np.where(near < _DOB_LO, 2 * _DOB_LO - near, near)
    dob = np.where(partner, near, dob)
    dob = np.where(relative | junior, generation, dob)
    dob = np.where(twin, base, dob)
    swap = junior & (dob < dob[head])  # the member is older: he is the senior
    relation[jrsr & ~member] = _SENIOR
    relation[junior & ~swap] = _JUNIOR
    relation[junior & swap] = _SENIOR
    relation[head[junior & swap]] = _JUNIOR

    # Surnames: a woman partnered with a man may use his (whichever of them
    # is the head), her own becoming her other (maiden) surname; relatives and
    # twins then have the head's; a junior has the senior's names.
    married = np.asarray(
        [float(pop.married_name.get(c.locale, 0.0)) for c in _COUNTRIES]
    )[locale]
    wed = partner & (female != female[head]) & (rng.random(n) < married)
    takes = wed & female  # the partner takes the head's surname
    wife_head = head[wed & ~female]  # the head takes the partner's
    alt_surname[wife_head] = surname[wife_head]
    surname[wife_head] = _gendered(
        vocab, surname[np.flatnonzero(wed & ~female)], female[wife_head]
    )
    takes_name = takes.copy()
    takes_name[wife_head] = True
    alt_surname[takes] = surname[takes]
    family_name = (relative & (rng.random(n) < pop.relative_shares_surname)) | twin
    family_name |= takes | junior
    surname[family_name] = _gendered(
        vocab, surname[head[family_name]], female[family_name]
    )
    first[junior] = first[head[junior]]
    for _ in range(8):  # twins have two first names
        same = twin & (first == first[head])
        if not same.any():
            break
        first[same] = _draw_first(vocab, rng, locale[same], female[same])

    # Namesakes: someone living alone gets the first name, surname and city
    # of another entity of the locale (drawn uniformly, so frequent names
    # most often).
    single = relation == _SINGLE
    p_name = min(1.0, pop.namesake_rate / max(float(single.mean()), 1e-12))
    namesake = single & (rng.random(n) < p_name)
    namesake_of = np.full(n, -1, dtype=np.int64)
    pool = np.flatnonzero(~namesake)  # whose name is copied is no namesake
    by_locale = pool[np.argsort(locale[pool], kind="stable")]
    starts = np.searchsorted(locale[by_locale], np.arange(len(_COUNTRIES) + 1))
    rows_ns = np.flatnonzero(namesake)
    lo_, hi_ = starts[locale[rows_ns]], starts[locale[rows_ns] + 1]
    offset = (rng.random(rows_ns.size) * (hi_ - lo_)).astype(np.int64)
    keep = hi_ > lo_  # a locale of namesakes only has nobody to copy
    rows_ns, other = rows_ns[keep], by_locale[(lo_ + offset)[keep]]
    namesake_of[rows_ns] = other
    female[rows_ns] = female[other]  # sources are never namesakes: no chains
    first[rows_ns] = first[other]
    surname[rows_ns] = surname[other]
    alt_surname[rows_ns] = _gendered(vocab, alt_surname[rows_ns], female[rows_ns])

    # Addresses: members live with the head; partners and twins also share
    # the head's other (earlier) address. Namesakes live in the other's city.
    at_head = pl.Series(np.where(member, head, np.arange(n)))
    alt_at_head = pl.Series(np.where(partner | twin, head, np.arange(n)))
    cols: dict[str, Any] = {
        c: ent[c].gather(at_head) for c in ("street", "city", "postcode")
    }
    cols.update(
        {
            c: ent[c].gather(alt_at_head)
            for c in ("alt_street", "alt_city", "alt_postcode")
        }
    )
    city = cols["city"].gather(pl.Series(other))
    cols["postcode"] = _replace(
        cols["postcode"], rows_ns, _postcodes_in(city, locale[rows_ns], rng)
    )
    cols["city"] = _replace(cols["city"], rows_ns, city)

    # Phones: the household's landline (the head's number) or one's own.
    shared_phone = member & (rng.random(n) < pop.shared_phone)
    phone = ent["phone"].gather(pl.Series(np.where(shared_phone, head, np.arange(n))))

    # E-mail: a new name gets a new address (unless a married partner kept
    # hers), made unique against everyone's; then some members use the head's.
    renamed = (first != first0) | (surname != surname0)
    renamed &= ~(takes_name & (rng.random(n) < pop.partner_keeps_email))
    rows = np.flatnonzero(renamed)
    email = ent["email"]
    year = _days_to_year(dob)
    for li, country in enumerate(_COUNTRIES):
        r = rows[locale[rows] == li]
        if r.size:
            email = _replace(
                email, r, _emails(country, vocab, rng, first[r], surname[r], year[r])
            )
    email = _unique_emails(rng, email, renamed)
    shared_email = member & (rng.random(n) < pop.shared_email)
    email = email.gather(pl.Series(np.where(shared_email, head, np.arange(n))))

    household = np.where(kind != _UNIT_SINGLE, head, np.arange(n))
    return ent.with_columns(
        female=pl.Series(female),
        first=pl.Series(first, dtype=pl.Int32),
        surname=pl.Series(surname, dtype=pl.Int32),
        alt_surname=pl.Series(alt_surname, dtype=pl.Int32),
        dob=pl.Series(dob.astype(np.int32)),
        phone=phone,
        email=email,
        household=pl.Series(household, dtype=pl.Int64),
        relation=pl.Series(relation, dtype=pl.Int8),
        namesake_of=pl.Series(namesake_of, dtype=pl.Int64),
        **{k: v.rename(k) for k, v in cols.items()},
    )


def _postcodes_in(
    cities: pl.Series, locale: np.ndarray, rng: np.random.Generator
) -> pl.Series:
    """Draw a postcode in each of ``cities`` (names of cities of ``locale``)."""
    vocab = _vocab()
    out = pl.Series([None] * cities.len(), dtype=pl.String)
    for li, (country, voc) in enumerate(zip(_COUNTRIES, vocab.locales, strict=True)):
        rows = np.flatnonzero(locale == li)
        if rows.size == 0:
            continue
        index = {c: i for i, c in enumerate(voc.cities.to_list())}
        ci = (
            cities.gather(pl.Series(rows))
            .replace_strict(index, return_dtype=pl.Int64)
            .to_numpy()
        )
        _, postcode = _city_postcode(country, voc, rng, rows.size, ci=ci)
        out = _replace(out, rows, postcode)
    return out


def _local_moves(
    ent: pl.DataFrame, rate: float, rng: np.random.Generator
) -> pl.DataFrame:
    """Move a share ``rate`` of entities within their city: same city, new postcode."""
    rows = np.flatnonzero(rng.random(ent.height) < rate)
    city = ent["city"].gather(pl.Series(rows))
    postcode = _postcodes_in(city, ent["locale"].to_numpy()[rows], rng)
    return ent.with_columns(
        alt_city=_replace(ent["alt_city"], rows, city),
        alt_postcode=_replace(ent["alt_postcode"], rows, postcode),
    )


def _alt_phones(ent: pl.DataFrame, rng: np.random.Generator) -> pl.Series:
    """Draw a second phone number per entity (after a move), from its country."""
    locale = ent["locale"].to_numpy().astype(np.int64)
    out = pl.Series([None] * ent.height, dtype=pl.String)
    for li, country in enumerate(_COUNTRIES):
        rows = np.flatnonzero(locale == li)
        if rows.size:
            out = _replace(out, rows, _nsn(country, rng, rows.size))
    return out


# --------------------------------------------------------------------------
# Record-level formatting
# --------------------------------------------------------------------------


def _format_phone(nsn: pl.Series, country: _Country, style: int) -> pl.Series:
    frame = pl.DataFrame({"n": nsn})
    n = pl.col("n")
    groups, start = [], 0
    for g in country.groups:
        groups.append(n.str.slice(start, g))
        start += g
    trunk = pl.lit(country.trunk)
    cc = pl.lit("+" + country.calling_code)

    def joined(sep: str) -> list[pl.Expr]:
        out: list[pl.Expr] = [groups[0]]
        for g in groups[1:]:
            out += [pl.lit(sep), g]
        return out

    if style == _PHONE_INTL:
        parts = [cc, pl.lit(" "), *joined(" ")]
    elif style == _PHONE_NATIONAL:
        parts = [trunk, *joined(" ")]
    elif style == _PHONE_COMPACT:
        parts = [trunk, n]
    elif style == _PHONE_E164:
        parts = [cc, n]
    elif style == _PHONE_IDD:
        parts = [pl.lit("00" + country.calling_code), pl.lit(" "), *joined(" ")]
    elif style == _PHONE_DIGITS:
        parts = [pl.lit(country.calling_code), n]
    elif country.iso2 == "US":
        parts = [
            pl.lit("("),
            groups[0],
            pl.lit(") "),
            groups[1],
            pl.lit("-"),
            groups[2],
        ]
    else:
        parts = [trunk, *joined("-")]
    return frame.select(pl.concat_str(parts).alias("phone")).to_series()


def _format_dates(
    y: np.ndarray, m: np.ndarray, d: np.ndarray, style: np.ndarray
) -> pl.Series:
    frame = pl.DataFrame(
        {
            "y": pl.Series(y).cast(pl.String).str.zfill(4),
            "m": pl.Series(m).cast(pl.String).str.zfill(2),
            "d": pl.Series(d).cast(pl.String).str.zfill(2),
        }
    )

    def build(k: int, rows: np.ndarray) -> pl.Series:
        yy, mm, dd = pl.col("y"), pl.col("m"), pl.col("d")
        y2 = yy.str.slice(2, 2)
        mon = (
            pl.col("m")
            .cast(pl.Int64)
            .replace_strict(dict(enumerate(_MONTHS, start=1)), return_dtype=pl.String)
        )
        parts = {
            "iso": [yy, pl.lit("-"), mm, pl.lit("-"), dd],
            "dmy_slash": [dd, pl.lit("/"), mm, pl.lit("/"), yy],
            "mdy_slash": [mm, pl.lit("/"), dd, pl.lit("/"), yy],
            "dmy_dot": [dd, pl.lit("."), mm, pl.lit("."), yy],
            "ymd_compact": [yy, mm, dd],
            "dmy_slash_yy": [dd, pl.lit("/"), mm, pl.lit("/"), y2],
            "mdy_slash_yy": [mm, pl.lit("/"), dd, pl.lit("/"), y2],
            "iso_datetime": [yy, pl.lit("-"), mm, pl.lit("-"), dd, pl.lit(" 00:00:00")],
            "d_mon_y": [dd, pl.lit("-"), mon, pl.lit("-"), yy],
        }[_DATE_STYLES[k]]
        return frame[rows].select(pl.concat_str(parts).alias("d")).to_series()

    return _by_group(style, build)


def _email_variants(values: pl.Series, rng: np.random.Generator) -> pl.Series:
    n = values.len()
    frame = pl.DataFrame(
        {
            "s": values,
            "u": rng.random(n),
            "v": rng.random(n),
            "tag": pl.Series(_EMAIL_TAGS).gather(rng.integers(0, len(_EMAIL_TAGS), n)),
        }
    )
    s = pl.col("s")
    at = s.str.find("@")
    local, domain = s.str.slice(0, at), s.str.slice(at)
    gmail = domain.is_in(["@gmail.com", "@googlemail.com"])
    dot_pos = (1 + pl.col("u") * (at - 1).clip(lower_bound=0)).cast(pl.Int64)
    dotted = pl.concat_str(
        [local.str.slice(0, dot_pos), pl.lit("."), local.str.slice(dot_pos), domain]
    )
    tagged = pl.concat_str([local, pl.lit("+"), pl.col("tag"), domain])
    titled = pl.concat_str([local.str.to_titlecase(), domain])
    v = pl.col("v")
    out = (
        pl.when(gmail & (v < 0.4) & (at > 1))
        .then(dotted)
        .when(gmail & (v < 0.8))
        .then(tagged)
        .when(v < 0.9)
        .then(s.str.to_uppercase())
        .otherwise(titled)
    )
    return frame.select(out.alias("s")).to_series()


def _case_variant(values: pl.Series, style: np.ndarray, rows: np.ndarray) -> pl.Series:
    """Apply case style (0 upper, 1 lower, 2 title) to ``values`` at ``rows``."""
    sub = values.gather(rows)
    new = _by_group(
        style,
        lambda k, r: [
            sub.gather(r).str.to_uppercase(),
            sub.gather(r).str.to_lowercase(),
            sub.gather(r).str.to_titlecase(),
        ][k],
    )
    return _replace(values, rows, new)


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


#: Seeds the second random stream, of everything ``"standard"`` does not do,
#: so that the standard stream (and output) stays as it was.
_HARD_STREAM = 0x4A2D_5EED

_PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "email": (
        "test@test.com",
        "noemail@noemail.com",
        "none@none.com",
        "no@email.com",
        "na@na.com",
        "x@x.com",
        "abc@abc.com",
        "customer@example.com",
    ),
    "phone": (
        "0000000000",
        "1234567890",
        "9999999999",
        "0123456789",
        "000 000 0000",
        "1111111111",
    ),
    "street_address": ("Unknown", "N/A", "Not known", "-", ".", "No fixed abode"),
    "postcode": ("00000", "ZZ99 9ZZ", "XXXXX", "99999"),
}
_SUFFIXES = {"de_DE": ("jun.", "sen."), "fr_FR": ("fils", "père")}  # else Jr, Sr


def _transliterate(values: pl.Series) -> pl.Series:
    """ASCII the way German and Dutch conventions write it, then strip accents."""
    return _strip_accents(
        values.str.replace_many(
            ["ä", "ö", "ü", "Ä", "Ö", "Ü", "ß", "ij", "IJ", "Ij"],
            ["ae", "oe", "ue", "Ae", "Oe", "Ue", "ss", "y", "Y", "Y"],
        )
    )


def _placeholder_values(field_name: str, rng: np.random.Generator, n: int) -> pl.Series:
    values = _PLACEHOLDERS[field_name]
    return pl.Series(values, dtype=pl.String).gather(
        rng.choice(len(values), n, p=_zipf_weights(len(values), 1.2))
    )


def _pack_names(
    first: pl.Series, surname: pl.Series, rng: np.random.Generator
) -> pl.Series:
    """One contact-name field: mostly "SURNAME, First", some "First Surname"."""
    n = first.len()
    frame = pl.DataFrame(
        {"f": first, "s": surname, "v": rng.choice(3, n, p=[0.65, 0.2, 0.15])}
    )
    f, s_, v = pl.col("f"), pl.col("s"), pl.col("v")
    last = pl.when(v == 0).then(s_.str.to_uppercase()).otherwise(s_)
    packed = (
        pl.when(f.is_null())
        .then(last)
        .when(s_.is_null())
        .then(f)
        .when(v == 2)
        .then(pl.concat_str([f, pl.lit(" "), s_]))
        .otherwise(pl.concat_str([last, pl.lit(", "), f]))
    )
    return frame.select(packed.alias("full_name")).to_series()


@overload
def generate_customers(
    n_records: int,
    *,
    seed: int = ...,
    n_sources: int = ...,
    difficulty: Difficulty = ...,
    corruptions: Corruptions | None = ...,
    population: Population | None = ...,
    singleton_rate: float = ...,
    duplicate_zipf_a: float = ...,
    max_cluster_size: int = ...,
    locale_weights: Mapping[str, float] | None = ...,
    return_truth: Literal[False] = ...,
) -> pl.DataFrame: ...


@overload
def generate_customers(
    n_records: int,
    *,
    seed: int = ...,
    n_sources: int = ...,
    difficulty: Difficulty = ...,
    corruptions: Corruptions | None = ...,
    population: Population | None = ...,
    singleton_rate: float = ...,
    duplicate_zipf_a: float = ...,
    max_cluster_size: int = ...,
    locale_weights: Mapping[str, float] | None = ...,
    return_truth: Literal[True],
) -> tuple[pl.DataFrame, pl.DataFrame]: ...


def generate_customers(
    n_records: int,
    *,
    seed: int = 0,
    n_sources: int = 4,
    difficulty: Difficulty = "standard",
    corruptions: Corruptions | None = None,
    population: Population | None = None,
    singleton_rate: float = 0.6,
    duplicate_zipf_a: float = 2.5,
    max_cluster_size: int = 50,
    locale_weights: Mapping[str, float] | None = None,
    return_truth: bool = False,
) -> pl.DataFrame | tuple[pl.DataFrame, pl.DataFrame]:
    """Generate synthetic customer records from several source systems.

    Parameters
    ----------
    n_records : int
        Exact number of records (rows) to generate.
    seed : int, default 0
        Seed of the random generator; equal arguments give equal frames.
    n_sources : int, default 4
        Number of source systems, taken in order from :data:`SOURCES`
        (crm, erp, webshop, support, billing, marketing), or from
        :data:`HARD_SOURCES` for ``difficulty="hard"``.
    difficulty : {"standard", "hard"}, default "standard"
        ``"standard"``: the generator's original data, the same frame for a
        seed as before ``difficulty`` existed. ``"hard"``: what makes real
        customer masters hard, with the defaults of :class:`Population`
        (households, twins, junior/senior pairs, namesakes in one city: other
        people who look alike), :meth:`Corruptions.hard` (married names with
        a move, moves with a new phone, swapped names, initials,
        transliterations, placeholders shared by unrelated records) and
        :data:`HARD_SOURCES` (a packed ``full_name`` field, more date and
        phone formats); the columns are :data:`HARD_COLUMNS`.
    corruptions : Corruptions, optional
        Error rates; when omitted, :class:`Corruptions` defaults for
        ``"standard"`` and :meth:`Corruptions.hard` for ``"hard"``.
    population : Population, optional
        Households and look-alikes; when omitted, :meth:`Population.none`
        for ``"standard"`` and the :class:`Population` defaults for
        ``"hard"``.
    singleton_rate : float, default 0.6
        Share of entities with a single record.
    duplicate_zipf_a : float, default 2.5
        Zipf exponent of the records per non-singleton entity (``1 + Zipf``);
        smaller values give a heavier tail.
    max_cluster_size : int, default 50
        Upper bound of records per entity.
    locale_weights : Mapping[str, float], optional
        Relative share of entities per faker locale (``en_US``, ``en_GB``,
        ``de_DE``, ``fr_FR``, ``es_ES``, ``it_IT``, ``nl_NL``, ``pl_PL``);
        unlisted locales get none.
    return_truth : bool, default False
        Also return a frame aligned row by row with the records holding the
        entity's clean values and one boolean ``c_<kind>`` column per
        corruption telling where it was applied; for ``"hard"`` also the
        entity's ``household`` (entity id of its household's head, else its
        own), ``relation`` (one of :data:`RELATIONS`) and ``namesake_of`` (the
        entity whose name and city it has, else null).

    Returns
    -------
    polars.DataFrame or tuple of polars.DataFrame
        The records with the columns of :data:`COLUMNS` (or
        :data:`HARD_COLUMNS`; strings, nulls for missing values,
        ``entity_id`` as ``Int64``) sorted by source and record number; with
        ``return_truth``, the pair ``(records, truth)``.

    Raises
    ------
    ValueError
        On a non-positive ``n_records``, an ``n_sources`` outside
        ``1..len(SOURCES)``, an unknown locale, difficulty or field, or a
        rate outside [0, 1].

    Notes
    -----
    Everything ``"hard"`` adds draws from a second random stream, so the
    standard stream, and with it every ``"standard"`` frame, is unchanged.

    Examples
    --------
    >>> df = generate_customers(200, seed=3, n_sources=2)
    >>> sorted(df["source"].unique().to_list())
    ['crm', 'erp']
    >>> hard = generate_customers(500, seed=3, difficulty="hard")
    >>> hard.columns == list(HARD_COLUMNS)
    True
    >>> support = hard.filter(pl.col("source") == "support")
    >>> support["first_name"].null_count() == support.height
    True
    """
    if n_records < 1:
        raise ValueError("n_records must be positive")
    if not 1 <= n_sources <= len(SOURCES):
        raise ValueError(f"n_sources must be in 1..{len(SOURCES)}")
    if difficulty not in DIFFICULTIES:
        raise ValueError(
            f"difficulty must be one of {list(DIFFICULTIES)}; got {difficulty!r}"
        )
    hard = difficulty == "hard"
    if corruptions is not None:
        cfg = corruptions
    else:
        cfg = Corruptions.hard() if hard else Corruptions()
    pop = population if population is not None else (
        Population() if hard else Population.none()
    )  # fmt: skip
    pop.check()
    unknown = set(cfg.typo_fields) - set(NULLABLE_FIELDS)
    unknown |= set(cfg.missing) - set(NULLABLE_FIELDS)
    unknown |= set(cfg.placeholder) - set(PLACEHOLDER_FIELDS)
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    placeholder_dates = []
    for text in cfg.dob_placeholders:
        try:
            placeholder_dates.append(np.datetime64(text, "D"))
        except ValueError:
            raise ValueError(
                f"dob_placeholders must be ISO dates (YYYY-MM-DD); got {text!r}"
            ) from None
    if not placeholder_dates:
        raise ValueError("dob_placeholders must hold at least one date")
    codes = [c.locale for c in _COUNTRIES]
    if locale_weights is None:
        lw = np.asarray([c.weight for c in _COUNTRIES])
    else:
        if set(locale_weights) - set(codes):
            raise ValueError(f"locales must be among {codes}")
        lw = np.asarray([float(locale_weights.get(c, 0.0)) for c in codes])
    lw = lw / lw.sum()

    rng = np.random.default_rng(seed)
    # Everything beyond the standard profile draws from hrng.
    hrng = np.random.default_rng([seed, _HARD_STREAM])
    vocab = _vocab()
    sizes = _cluster_sizes(
        rng, n_records, singleton_rate, duplicate_zipf_a, max_cluster_size
    )
    n_ent = sizes.size
    ent = _entities(rng, n_ent, lw)
    if cfg.local_move > 0:
        ent = _local_moves(ent, cfg.local_move, hrng)
    if pop.active:
        ent = _populate(ent, pop, hrng)
    if cfg.move_phone > 0:
        ent = ent.with_columns(alt_phone=_alt_phones(ent, hrng))
    n = n_records

    # Records: shuffle, assign sources, then group rows by source.
    sources = (HARD_SOURCES if hard else SOURCES)[:n_sources]
    sw = np.asarray([s.weight for s in sources])
    rec = np.repeat(np.arange(n_ent), sizes)[rng.permutation(n)]
    src = rng.choice(n_sources, n, p=sw / sw.sum())
    order = np.argsort(src, kind="stable")
    rec, src = rec[order], src[order]

    locale = ent["locale"].to_numpy()[rec]
    female = ent["female"].to_numpy()[rec]
    first = ent["first"].to_numpy()[rec]
    surname = ent["surname"].to_numpy()[rec]
    flags: dict[str, np.ndarray] = {}

    # Name-level corruptions on vocabulary indices.
    counts = vocab.nick_count[first]
    m = (counts > 0) & _mask(rng, cfg.nickname, n)
    pick = (rng.random(int(m.sum())) * counts[m]).astype(np.int64)
    first = first.copy()
    first[m] = vocab.nick_target[vocab.nick_start[first[m]] + pick]
    flags["nickname"] = m
    m = female & _mask(rng, cfg.surname_change, n)
    surname = np.where(m, ent["alt_surname"].to_numpy()[rec], surname)
    flags["surname_change"] = m
    m = _mask(rng, cfg.name_swap, n)
    first, surname = np.where(m, surname, first), np.where(m, first, surname)
    flags["name_swap"] = m
    cols: dict[str, pl.Series] = {
        "first_name": vocab.names.gather(first),
        "surname": vocab.names.gather(surname),
    }
    m = _mask(rng, cfg.initial, n) & ~flags["name_swap"]
    rows = np.flatnonzero(m)
    cols["first_name"] = _replace(
        cols["first_name"], rows, cols["first_name"].gather(rows).str.slice(0, 1) + "."
    )
    flags["initial"] = m
    if pop.active and pop.generation_suffix > 0:
        # Junior and senior: a few records say which one in the surname field.
        relation = ent["relation"].to_numpy()[rec]
        m = np.isin(relation, (_JUNIOR, _SENIOR)) & _mask(
            hrng, pop.generation_suffix, n
        )
        rows = np.flatnonzero(m)
        junior_word = np.asarray(
            [_SUFFIXES.get(c.locale, ("Jr", "Sr"))[0] for c in _COUNTRIES]
        )
        senior_word = np.asarray(
            [_SUFFIXES.get(c.locale, ("Jr", "Sr"))[1] for c in _COUNTRIES]
        )
        word = np.where(
            relation[rows] == _JUNIOR,
            junior_word[locale[rows]],
            senior_word[locale[rows]],
        )
        cols["surname"] = _replace(
            cols["surname"],
            rows,
            cols["surname"].gather(rows) + " " + pl.Series(word, dtype=pl.String),
        )
        flags["generation_suffix"] = m

    # Address: the entity's current or (after a move) other address.
    m = _mask(rng, cfg.move, n)
    if cfg.marriage_move > 0:  # a married name often comes with a new address
        m = m | (flags["surname_change"] & _mask(hrng, cfg.marriage_move, n))
    flags["move"] = m
    addr_row = pl.Series(rec + n_ent * m.astype(np.int64))
    for name, col in (
        ("street_address", "street"),
        ("city", "city"),
        ("postcode", "postcode"),
    ):
        stacked = pl.concat([ent[col], ent["alt_" + col]])
        cols[name] = stacked.gather(addr_row)
    if not return_truth:  # free the entity strings early: matters at 10M rows
        ent = ent.drop("street", "city", "postcode")
    ent = ent.drop("alt_street", "alt_city", "alt_postcode", "alt_surname")

    # Date of birth.
    days = ent["dob"].to_numpy()[rec].astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    y = days.astype("datetime64[Y]").astype(np.int64) + 1970
    mo = months.astype(np.int64) % 12 + 1
    d = (days - months).astype(np.int64) + 1
    m = (d <= 12) & (d != mo) & _mask(rng, cfg.dob_swap, n)
    mo, d = np.where(m, d, mo), np.where(m, mo, d)
    flags["dob_swap"] = m
    m = _mask(rng, cfg.dob_error, n)
    year_err = rng.random(n) < 0.5
    step = rng.choice(np.asarray([-1, 1]), n)
    y = np.where(m & year_err, y + step, y)
    d = np.where(m & ~year_err, np.clip(d + step, 1, 28), d)
    d = np.where(m & (mo == 2), np.minimum(d, 28), d)
    flags["dob_error"] = m
    m = _mask(rng, cfg.dob_placeholder, n)
    if len(placeholder_dates) == 1:
        junk = np.full(n, placeholder_dates[0])
    else:
        pick_date = hrng.choice(
            len(placeholder_dates), n, p=_zipf_weights(len(placeholder_dates), 1.5)
        )
        junk = np.asarray(placeholder_dates)[pick_date]
    junk_months = junk.astype("datetime64[M]")
    junk_y = junk.astype("datetime64[Y]").astype(np.int64) + 1970
    junk_mo = junk_months.astype(np.int64) % 12 + 1
    junk_d = (junk - junk_months).astype(np.int64) + 1
    y, mo, d = np.where(m, junk_y, y), np.where(m, junk_mo, mo), np.where(m, junk_d, d)
    flags["dob_placeholder"] = m
    typed_date = np.asarray([s.date_style == "typed" for s in sources])[src]
    date_style = np.asarray(
        [_DATE_STYLES.index("iso" if s.date_style == "typed" else s.date_style)
         for s in sources]
    )[src]  # fmt: skip
    if typed_date.any():  # each customer writes the date as usual at home
        us = locale == [c.iso2 for c in _COUNTRIES].index("US")
        for mask, table in ((us, _TYPED_DATES_US), (~us, _TYPED_DATES_EU)):
            rows = np.flatnonzero(typed_date & mask)
            styles = np.asarray([_DATE_STYLES.index(k) for k, _ in table])
            weights = np.asarray([w for _, w in table])
            date_style[rows] = styles[
                hrng.choice(styles.size, rows.size, p=weights / weights.sum())
            ]
    cols["date_of_birth"] = _format_dates(y, mo, d, date_style)

    # Phone: the source's layout, or another one.
    default_style = np.asarray(
        [-1 if s.phone_style is None else s.phone_style for s in sources]
    )[src]
    style = np.where(
        default_style < 0, rng.integers(0, _N_PHONE_STYLES, n), default_style
    )
    m = _mask(rng, cfg.phone_format, n)
    other = (style + rng.integers(1, _N_PHONE_STYLES, n)) % _N_PHONE_STYLES
    style = np.where(m, other, style)
    flags["phone_format"] = m
    nsn = ent["phone"].gather(pl.Series(rec))
    if cfg.move_phone > 0:  # the landline stays behind with the old address
        m = flags["move"] & _mask(hrng, cfg.move_phone, n)
        rows = np.flatnonzero(m)
        nsn = _replace(nsn, rows, ent["alt_phone"].gather(pl.Series(rec[rows])))
        flags["move_phone"] = m
        ent = ent.drop("alt_phone")
    cols["phone"] = _by_group(
        locale.astype(np.int64) * _N_PHONE_LAYOUTS + style,
        lambda k, r: _format_phone(
            nsn.gather(r), _COUNTRIES[k // _N_PHONE_LAYOUTS], k % _N_PHONE_LAYOUTS
        ),
    )

    del stacked

    # E-mail variants.
    cols["email"] = ent["email"].gather(pl.Series(rec))
    if not return_truth:
        ent = ent.drop("email", "phone")
    m = _mask(rng, cfg.email_variant, n)
    rows = np.flatnonzero(m)
    cols["email"] = _replace(
        cols["email"], rows, _email_variants(cols["email"].gather(rows), rng)
    )
    flags["email_variant"] = m

    # Typos and transpositions.
    for kind, fn, min_len in (("typo", _typo, 2), ("transposition", _transpose, 2)):
        p = getattr(cfg, kind)
        for name in cfg.typo_fields:
            length = cols[name].str.len_chars().fill_null(0).to_numpy()
            m = (length >= min_len) & _mask(rng, p, n)
            rows = np.flatnonzero(m)
            cols[name] = _replace(cols[name], rows, fn(cols[name].gather(rows), rng))
            flags[f"{kind}_{name}"] = m

    # Accents, case and whitespace.
    legacy = np.asarray([s.upper_ascii for s in sources])[src]
    translit_source = (
        legacy & np.asarray([s.ascii_style == "transliterate" for s in sources])[src]
    )
    if cfg.transliterate > 0 or translit_source.any():
        m = _mask(hrng, cfg.transliterate, n)
        flags["transliterate"] = m
        rows = np.flatnonzero(m | translit_source)
        for name in _CASE_FIELDS:
            cols[name] = _replace(
                cols[name], rows, _transliterate(cols[name].gather(rows))
            )
    m = _mask(rng, cfg.accent_strip, n)
    flags["accent_strip"] = m
    rows = np.flatnonzero(m | legacy)
    for name in _CASE_FIELDS:
        cols[name] = _replace(cols[name], rows, _strip_accents(cols[name].gather(rows)))
    rows = np.flatnonzero(legacy)
    for name in _CASE_FIELDS:
        cols[name] = _replace(
            cols[name], rows, cols[name].gather(rows).str.to_uppercase()
        )
    m = _mask(rng, cfg.case, n)
    flags["case"] = m
    rows = np.flatnonzero(m)
    case_style = np.where(legacy[rows], 1 + rng.integers(0, 2, rows.size),
                          rng.integers(0, 2, rows.size))  # fmt: skip
    for name in _CASE_FIELDS:
        cols[name] = _case_variant(cols[name], case_style, rows)
    m = _mask(rng, cfg.whitespace, n)
    flags["whitespace"] = m
    target = rng.integers(0, 3, n)
    for t, name in enumerate(("first_name", "surname", "street_address")):
        rows = np.flatnonzero(m & (target == t))
        sub = cols[name].gather(rows)
        variant = rng.integers(0, 3, rows.size)
        spaced = pl.DataFrame({"s": sub, "v": variant}).select(
            pl.when(pl.col("v") == 0)
            .then(pl.lit(" ") + pl.col("s"))
            .when(pl.col("v") == 1)
            .then(pl.col("s") + pl.lit(" "))
            .otherwise(
                pl.col("s")
                .str.replace(" ", "  ", literal=True, n=1)
                .str.replace(r"^(\S+)$", "$1 ")
            )
        )
        cols[name] = _replace(cols[name], rows, spaced.to_series())

    # Country, as ISO code or name per source.
    iso = pl.Series([c.iso2 for c in _COUNTRIES]).gather(locale)
    cname = pl.Series([c.name for c in _COUNTRIES]).gather(locale)
    by_name = np.asarray([s.country_style == "name" for s in sources])[src]
    rows = np.flatnonzero(by_name)
    cols["country"] = _replace(iso, rows, cname.gather(rows))
    rows = np.flatnonzero(legacy)
    cols["country"] = _replace(
        cols["country"], rows, cols["country"].gather(rows).str.to_uppercase()
    )

    # Placeholders: junk that gets a record past a required field, the same
    # few values in many unrelated records.
    for name in PLACEHOLDER_FIELDS:
        extra = np.asarray([s.placeholder.get(name, 0.0) for s in sources])[src]
        p = 1.0 - (1.0 - cfg.placeholder.get(name, 0.0)) * (1.0 - extra)
        if not np.any(p > 0):
            continue
        m = hrng.random(n) < p
        rows = np.flatnonzero(m)
        cols[name] = _replace(
            cols[name], rows, _placeholder_values(name, hrng, rows.size)
        )
        flags[f"placeholder_{name}"] = m

    # Missing values: global rate, then the source systems' own gaps.
    for name in NULLABLE_FIELDS:
        extra = np.asarray([s.missing.get(name, 0.0) for s in sources])[src]
        p = 1.0 - (1.0 - cfg.missing.get(name, 0.0)) * (1.0 - extra)
        m = rng.random(n) < p
        flags[f"missing_{name}"] = m
        cols[name] = cols[name].set(pl.Series(m), None)  # type: ignore[arg-type]

    # A source with one name field: "SURNAME, First" there, no split names.
    columns = HARD_COLUMNS if hard else COLUMNS
    if hard:
        packed = np.asarray([s.name_layout == "packed" for s in sources])[src]
        rows = np.flatnonzero(packed)
        full = pl.Series([None] * n, dtype=pl.String)
        cols["full_name"] = _replace(
            full,
            rows,
            _pack_names(
                cols["first_name"].gather(rows), cols["surname"].gather(rows), hrng
            ),
        )
        for name in ("first_name", "surname"):
            cols[name] = cols[name].set(pl.Series(packed), None)  # type: ignore[arg-type]
        flags["packed_name"] = packed

    # Record ids, numbered within each source.
    src_counts = np.bincount(src, minlength=n_sources)
    starts = np.cumsum(src_counts) - src_counts
    seq = np.arange(n, dtype=np.int64) - starts[src]

    def record_ids(k: int, r: np.ndarray) -> pl.Series:
        s = sources[k]
        digits = max(s.id_digits, len(str(int(src_counts[k]) + s.id_offset)))
        num = seq[r] + s.id_offset
        if s.id_scrambled:  # bijection on [0, 10**digits): odd, not multiple of 5
            num = (num * 7_654_321 + 1_234_567) % 10**digits
        number = pl.Series(num).cast(pl.String).str.zfill(digits)
        return pl.select(pl.lit(s.id_prefix) + number).to_series()

    ids = _by_group(src, record_ids)
    source_names = pl.Series([s.name for s in sources]).gather(src)
    entity_id = pl.Series(rec, dtype=pl.Int64)
    records = pl.DataFrame(
        {
            "record_id": ids,
            "source": source_names,
            "entity_id": entity_id,
            **{c: cols[c].rename(c) for c in columns[3:]},
        }
    ).select(columns)
    if not return_truth:
        return records

    ent_rows = pl.Series(rec)
    dob = ent["dob"].gather(ent_rows).cast(pl.Date).dt.strftime("%Y-%m-%d")
    e164 = pl.concat_str(
        [
            pl.lit("+"),
            pl.Series([c.calling_code for c in _COUNTRIES]).gather(locale),
            ent["phone"].gather(ent_rows),
        ]
    )
    truth = pl.DataFrame(
        {
            "record_id": ids,
            "source": source_names,
            "entity_id": entity_id,
            "first_name": vocab.names.gather(ent["first"].gather(ent_rows)),
            "surname": vocab.names.gather(ent["surname"].gather(ent_rows)),
            "date_of_birth": dob,
            "email": ent["email"].gather(ent_rows),
            "street_address": ent["street"].gather(ent_rows),
            "city": ent["city"].gather(ent_rows),
            "postcode": ent["postcode"].gather(ent_rows),
            "country": iso,
            "female": pl.Series(female),
        }
    ).with_columns(phone=pl.select(e164).to_series())
    if hard:
        if pop.active:
            related = ent.select(
                "household",
                pl.col("relation").replace_strict(
                    dict(enumerate(RELATIONS)), return_dtype=pl.String
                ),
                pl.when(pl.col("namesake_of") >= 0).then(pl.col("namesake_of")),
            ).gather(ent_rows)
        else:
            related = pl.DataFrame(
                {
                    "household": entity_id,
                    "relation": pl.Series(["single"] * n, dtype=pl.String),
                    "namesake_of": pl.Series([None] * n, dtype=pl.Int64),
                }
            )
        truth = pl.concat([truth, related], how="horizontal")
    truth = truth.with_columns([pl.Series(f"c_{k}", v) for k, v in flags.items()])
    return records, truth


def true_pair_count(records: pl.DataFrame) -> int:
    """Count the record pairs that refer to the same entity.

    Parameters
    ----------
    records : polars.DataFrame
        Frame with an ``entity_id`` column.

    Returns
    -------
    int
        ``sum(k * (k - 1) / 2)`` over the entity cluster sizes ``k``.
    """
    k = records.group_by("entity_id").len()["len"].cast(pl.Int64)
    return int((k * (k - 1) // 2).sum())


def main(argv: Sequence[str] | None = None) -> int:
    """Write a synthetic customer file and print its shape.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments; ``sys.argv[1:]`` when omitted.

    Returns
    -------
    int
        Exit status.
    """
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.synthetic", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--n", type=int, default=100_000, help="number of records")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-sources", type=int, default=4)
    parser.add_argument(
        "--difficulty",
        choices=DIFFICULTIES,
        default="standard",
        help="standard: the original data; hard: households, look-alikes, "
        "hard duplicates, placeholders (see generate_customers)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/out/customers.parquet")
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    df = generate_customers(
        args.n, seed=args.seed, n_sources=args.n_sources, difficulty=args.difficulty
    )
    generated = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.write_parquet(args.out)
    print(
        f"rows={df.height} entities={df['entity_id'].n_unique()} "
        f"true_pairs={true_pair_count(df)} seconds={generated:.2f} "
        f"(with write {time.perf_counter() - start:.2f}) out={args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
