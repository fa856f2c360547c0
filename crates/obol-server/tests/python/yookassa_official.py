"""YooKassa's official Python library (yookassa >= 3) against Obol's sandbox upstream.

Run by tests/yookassa.rs: python yookassa_official.py BASE_URL SHOP_ID SECRET_KEY
Creates a two-stage payment, pays it on Obol's hosted page (as a browser would, by its form
contract), finds it, captures it, refunds part of it, finds the refund; prints one JSON line
with what it saw. Any library error makes the script fail.
"""
import json
import re
import sys
import urllib.parse
import urllib.request
import uuid

from yookassa import Configuration, Payment, Refund

base, shop_id, secret_key = sys.argv[1:4]
Configuration.configure(shop_id, secret_key, api_url=base + "/sandbox/yookassa/v3")

created = Payment.create(
    {
        "amount": {"value": "100.00", "currency": "RUB"},
        "confirmation": {"type": "embedded"},
        "capture": False,
        "description": "Order No. 72",
        "metadata": {"order_id": "72"},
    },
    str(uuid.uuid4()),
)
token = created.confirmation.confirmation_token


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


# The confirmation token opens the hosted page; the card form takes a sandbox card.
status, headers, _ = fetch(f"{base}/sandbox/yookassa/confirmation/{token}")
assert status == 303, status
page_url = urllib.parse.urljoin(base, headers["Location"])
status, headers, html = fetch(page_url)
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
status, headers, _ = fetch(urllib.parse.urljoin(base, action), form)
assert status == 303, status

found = Payment.find_one(created.id)
captured = Payment.capture(created.id, {}, str(uuid.uuid4()))
refund = Refund.create(
    {"payment_id": created.id, "amount": {"value": "30.00", "currency": "RUB"}},
    str(uuid.uuid4()),
)
refund_found = Refund.find_one(refund.id)
after = Payment.find_one(created.id)

print(
    json.dumps(
        {
            "created_status": created.status,
            "created_paid": created.paid,
            "found_status": found.status,
            "found_card_last4": found.payment_method.card.last4,
            "captured_status": captured.status,
            "refund_status": refund.status,
            "refund_found_amount": str(refund_found.amount.value),
            "refund_payment": refund_found.payment_id,
            "payment_id": created.id,
            "after_refunded": str(after.refunded_amount.value),
            "metadata": after.metadata,
        }
    )
)
