"""Maps a zechat_billing refusal (SQLSTATE PT402) to an HTTP 402 response."""
import json
import sys

import psycopg


def send_message(conn, tenant_id, body):
    """What an HTTP handler does to send a message: insert it; the database
    enforces the tenant's plan.  Returns (status, response body)."""
    try:
        with conn.transaction():
            conn.execute("INSERT INTO messages (tenant_id, body) VALUES (%s, %s)", (tenant_id, body))
        return 201, {"sent": True}
    except psycopg.Error as e:
        if e.sqlstate == "PT402":
            detail = json.loads(e.diag.message_detail)  # tenant_id, resource, limit, used, ...
            return 402, {"error": f"limit of {detail['resource']} reached - upgrade", "detail": detail}
        raise


def main():
    tenant = sys.argv[1] if len(sys.argv) > 1 else "acme"
    with psycopg.connect(autocommit=True) as conn:  # PGHOST, PGPORT, ... from the environment
        for i in range(1, 5):
            status, body = send_message(conn, tenant, f"hello {i}")
            print(status, json.dumps(body))


if __name__ == "__main__":
    main()
