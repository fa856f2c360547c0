"""YooKassa's official Python library (yookassa >= 3): the sandbox's lists and notifications.

Run by tests/yookassa/python.rs in two steps:

  python yookassa_lists_notifications.py flow BASE_URL SHOP_ID SECRET_KEY
      Makes two payments (a two-stage one, captured, and a one-stage one), pays both on Obol's
      hosted page (as a browser would, by its form contract), refunds part of each, then lists
      payments and refunds with the library (pages, filters). Prints one JSON line.

  python yookassa_lists_notifications.py parse FILE
      FILE holds a JSON array of notification bodies as the shop's webhook received them; each
      goes through the library's WebhookNotificationFactory. Prints one JSON line.

Any library error makes the script fail.
"""
import json
import re
import sys
import urllib.parse
import urllib.request
import uuid

from yookassa import Configuration, Payment, Refund
from yookassa.domain.notification import WebhookNotificationFactory


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


opener = urllib.request.build_opener(NoRedirect)


def fetch(url, data=None):
    request = urllib.request.Request(url, data=data)
    try:
        with opener.open(request) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def pay(base, token):
    status, headers, _ = fetch(f"{base}/sandbox/yookassa/confirmation/{token}")
    assert status == 303, status
    status, headers, html = fetch(urllib.parse.urljoin(base, headers["Location"]))
    assert status == 200, status
    action = re.search(r'<form method="post" action="([^"]+)"', html).group(1).replace("&amp;", "&")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    form = urllib.parse.urlencode(
        {
            "csrf_token": csrf,
            "card_number": "4242 4242 4242 4242",
            "card_expiry": "12/30",
            "card_cvv": "123",
            "card_holder": "IVAN PETROV",
        }
    ).encode()
    status, _, _ = fetch(urllib.parse.urljoin(base, action), form)
    assert status == 303, status


def create(value, capture):
    return Payment.create(
        {
            "amount": {"value": value, "currency": "RUB"},
            "confirmation": {"type": "embedded"},
            "capture": capture,
            "description": "Order " + value,
        },
        str(uuid.uuid4()),
    )


def flow(base, shop_id, secret_key):
    Configuration.configure(shop_id, secret_key, api_url=base + "/sandbox/yookassa/v3")
    held = create("100.00", False)
    pay(base, held.confirmation.confirmation_token)
    Payment.capture(held.id, {}, str(uuid.uuid4()))
    single = create("50.00", True)
    pay(base, single.confirmation.confirmation_token)
    Refund.create(
        {"payment_id": held.id, "amount": {"value": "30.00", "currency": "RUB"}},
        str(uuid.uuid4()),
    )
    Refund.create(
        {"payment_id": single.id, "amount": {"value": "10.00", "currency": "RUB"}},
        str(uuid.uuid4()),
    )

    first = Payment.list({"limit": 1})
    second = Payment.list({"limit": 1, "cursor": first.next_cursor})
    succeeded = Payment.list({"status": "succeeded", "created_at.gte": held.created_at})
    pending = Payment.list({"status": "pending"})
    refunds = Refund.list({})
    of_held = Refund.list({"payment_id": held.id})
    return {
        "held_id": held.id,
        "single_id": single.id,
        "first_type": first.type,
        "first_ids": [item.id for item in first.items],
        "first_has_cursor": bool(first.next_cursor),
        "second_ids": [item.id for item in second.items],
        "second_cursor": second.next_cursor,
        "succeeded_ids": [item.id for item in succeeded.items],
        "succeeded_statuses": [item.status for item in succeeded.items],
        "pending_count": len(pending.items),
        "refund_payments": [item.payment_id for item in refunds.items],
        "refund_amounts": [str(item.amount.value) for item in refunds.items],
        "held_refunds": [str(item.amount.value) for item in of_held.items],
    }


def parse(path):
    with open(path, encoding="utf-8") as file:
        bodies = json.load(file)
    seen = []
    for body in bodies:
        notification = WebhookNotificationFactory().create(json.loads(body))
        entry = {
            "type": notification.type,
            "event": notification.event,
            "class": type(notification.object).__name__,
            "id": notification.object.id,
            "status": notification.object.status,
            "amount": str(notification.object.amount.value),
        }
        if hasattr(notification.object, "payment_id"):
            entry["payment_id"] = notification.object.payment_id
        seen.append(entry)
    return {"notifications": seen}


if __name__ == "__main__":
    if sys.argv[1] == "flow":
        print(json.dumps(flow(*sys.argv[2:5])))
    elif sys.argv[1] == "parse":
        print(json.dumps(parse(sys.argv[2])))
    else:
        sys.exit("usage: flow BASE SHOP_ID SECRET_KEY | parse FILE")
