"""Seeds the demo tenant's Snowflake data in the emulator, as a customer's data team would.

`seed` (re)creates DEMO_CRM.PUBLIC.OPPORTUNITIES (50,000 rows, every pulled type) and ACCOUNTS
(2,000 rows); `change` updates 500 opportunities and inserts 1,000 new ones, so the next pull
has something to carry over. Talks to the emulator through the official Python connector.
"""

import os
import sys
import time
from urllib.parse import urlparse

import snowflake.connector

OPPORTUNITIES = 50_000
ACCOUNTS = 2_000


def connect():
    url = urlparse(os.environ["SNOWSYNC_SNOWFLAKE_URL"])
    return snowflake.connector.connect(
        user="DEMO_LOADER",
        password="demo",
        account="demo-org-demo-account",
        host=url.hostname,
        port=url.port,
        protocol=url.scheme,
        database="DEMO_CRM",
        schema="PUBLIC",
    )


SEED = [
    """CREATE OR REPLACE TABLE ACCOUNTS (
        ID NUMBER(38,0) NOT NULL, DOMAIN VARCHAR, NAME VARCHAR, INDUSTRY VARCHAR,
        EMPLOYEES NUMBER(9,0), ARR NUMBER(14,2), CREATED_AT TIMESTAMP_NTZ)""",
    f"""INSERT INTO ACCOUNTS
        SELECT SEQ4() + 1, 'account' || (SEQ4() + 1) || '.example.com', 'Account ' || (SEQ4() + 1),
               CASE SEQ4() % 5 WHEN 0 THEN 'Software' WHEN 1 THEN 'Retail' WHEN 2 THEN 'Finance'
                               WHEN 3 THEN 'Health' ELSE 'Manufacturing' END,
               10 + (SEQ4() * 7919) % 50000, ((SEQ4() * 104729) % 100000000) / 100,
               DATEADD('minute', SEQ4() * 53, '2022-01-01 00:00:00'::TIMESTAMP_NTZ)
        FROM TABLE(GENERATOR(ROWCOUNT => {ACCOUNTS}))""",
    """CREATE OR REPLACE TABLE OPPORTUNITIES (
        ID NUMBER(38,0) NOT NULL, ACCOUNT_ID NUMBER(18,0), NAME VARCHAR, STAGE VARCHAR,
        AMOUNT NUMBER(18,2), PROBABILITY FLOAT, IS_CLOSED BOOLEAN, CLOSE_DATE DATE,
        CREATED_AT TIMESTAMP_TZ, UPDATED_AT TIMESTAMP_NTZ, LAST_ACTIVITY_AT TIMESTAMP_LTZ,
        PROPERTIES VARIANT, CONTACT OBJECT, TAGS ARRAY)""",
    f"""INSERT INTO OPPORTUNITIES
        SELECT SEQ4() + 1, 1 + (SEQ4() * 31) % {ACCOUNTS}, 'Opportunity ' || (SEQ4() + 1) || ' – Q' || (1 + SEQ4() % 4),
               CASE SEQ4() % 6 WHEN 0 THEN 'Prospecting' WHEN 1 THEN 'Qualification' WHEN 2 THEN 'Proposal'
                               WHEN 3 THEN 'Negotiation' WHEN 4 THEN 'Closed Won' ELSE 'Closed Lost' END,
               ((SEQ4() * 7919) % 50000000) / 100, (SEQ4() % 100) / 100.0, SEQ4() % 6 >= 4,
               DATEADD('day', SEQ4() % 730, '2025-01-01'::DATE),
               DATEADD('second', SEQ4() * 61, '2024-01-01 08:00:00.123456'::TIMESTAMP_TZ),
               DATEADD('millisecond', SEQ4() * 37001, '2025-01-01 00:00:00'::TIMESTAMP_NTZ),
               CASE WHEN SEQ4() % 10 = 0 THEN NULL
                    ELSE DATEADD('second', SEQ4() * 13, '2025-06-01 12:00:00'::TIMESTAMP_LTZ) END,
               OBJECT_CONSTRUCT('source', CASE SEQ4() % 3 WHEN 0 THEN 'web' WHEN 1 THEN 'partner' ELSE 'outbound' END,
                                'score', SEQ4() % 100, 'notes', 'Kunde möchte "Angebot" bis Freitag'),
               OBJECT_CONSTRUCT('email', 'buyer' || (SEQ4() + 1) || '@example.com', 'phone', '+49 30 ' || (1000000 + SEQ4())),
               ARRAY_CONSTRUCT('enterprise', 'q' || (1 + SEQ4() % 4))
        FROM TABLE(GENERATOR(ROWCOUNT => {OPPORTUNITIES}))""",
]

CHANGE = [
    """UPDATE OPPORTUNITIES SET STAGE = 'Closed Won', IS_CLOSED = TRUE, AMOUNT = AMOUNT + 1000.01,
              UPDATED_AT = '2026-06-01 09:30:00.250000'::TIMESTAMP_NTZ
       WHERE ID % 100 = 7""",
    f"""INSERT INTO OPPORTUNITIES
        SELECT {OPPORTUNITIES} + SEQ4() + 1, 1 + SEQ4() % {ACCOUNTS}, 'New opportunity ' || (SEQ4() + 1), 'Prospecting',
               1234.50, 0.1, FALSE, '2026-12-31'::DATE, '2026-06-01 10:00:00'::TIMESTAMP_TZ,
               DATEADD('second', SEQ4(), '2026-06-01 10:00:00'::TIMESTAMP_NTZ), NULL,
               OBJECT_CONSTRUCT('source', 'web'), OBJECT_CONSTRUCT(), ARRAY_CONSTRUCT()
        FROM TABLE(GENERATOR(ROWCOUNT => 1000))""",
]


def main() -> int:
    step = sys.argv[1] if len(sys.argv) > 1 else "seed"
    statements = {"seed": SEED, "change": CHANGE}.get(step)
    if statements is None:
        print(f"usage: {sys.argv[0]} seed|change", file=sys.stderr)
        return 2
    started = time.time()
    with connect() as con:
        cur = con.cursor()
        for sql in statements:
            cur.execute(sql)
        cur.execute("SELECT COUNT(*) FROM OPPORTUNITIES")
        opportunities = cur.fetchone()[0]
        cur.execute("SELECT COUNT(*) FROM ACCOUNTS")
        accounts = cur.fetchone()[0]
    print(f"{step}: DEMO_CRM.PUBLIC has {opportunities} opportunities and {accounts} accounts ({time.time() - started:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
