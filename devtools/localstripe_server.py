"""Run localstripe, the stateful Stripe stand-in, the way this project needs it.

Compared with ``localstripe`` run by itself this launcher:
- binds to 127.0.0.1 only (localstripe itself listens on every interface);
- keeps its store in a file of ours (``--store``), or in memory only (``--memory``);
- lists PaymentIntents as Stripe does: newest first, filtered by ``created[gt|gte|lt|lte]``
  (localstripe answers 400 to ``created`` there and lists oldest first);
- lets the browser create PaymentMethods with the publishable key, as real Stripe does
  (localstripe only allows that for tokens and sources), and gives its Stripe.js stand-in
  the ``createPaymentMethod`` that real Stripe.js has;
- accepts a PaymentIntent's ``shipping`` (name and address), which Stripe takes and
  localstripe 1.15 refuses ("Unexpected shipping"), and returns it as Stripe does.

Usage: python -m devtools.localstripe_server --port 8420 --store var/localstripe.pickle
"""

import argparse
import logging
import os
import pickle
from pathlib import Path

from aiohttp import web
from localstripe import resources, server
from localstripe.errors import UserError

CREATE_PAYMENT_METHOD_JS = r"""
// Added by devtools/localstripe_server.py: accessible names for the fake card inputs
// (real Stripe Elements labels its own fields), and Stripe.js's createPaymentMethod.
(function () {
  const LABELS = {number: 'Card number', exp_month: 'Expiry month (MM)',
                  exp_year: 'Expiry year (YY)', cvc: 'Security code (CVC)',
                  postal_code: 'Postal code'};
  const mount = Element.prototype.mount;
  Element.prototype.mount = function (domElement) {
    mount.call(this, domElement);
    Object.entries(this._inputs || {}).forEach(([field, input]) => {
      input.setAttribute('aria-label', LABELS[field] || field);
      const autocomplete = {number: 'cc-number', cvc: 'cc-csc', postal_code: 'postal-code'};
      input.setAttribute('autocomplete', autocomplete[field] || 'off');
      if (field !== 'postal_code') { input.setAttribute('inputmode', 'numeric'); }
    });
  };
})();
(function () {
  const makeStripe = Stripe;
  Stripe = (apiKey) => {
    const stripe = makeStripe(apiKey);
    stripe.createPaymentMethod = async (options) => {
      const element = options.card || options.element;
      const card = element && element.value && element.value.card;
      if (!card || !card.number) {
        return {error: {type: 'validation_error', message: 'Your card number is incomplete.'}};
      }
      const response = await fetch(`${LOCALSTRIPE_BASE_API}/v1/payment_methods`, {
        method: 'POST',
        body: JSON.stringify({
          key: apiKey, type: 'card', billing_details: options.billing_details || {},
          card: {number: card.number, exp_month: card.exp_month,
                 exp_year: card.exp_year, cvc: card.cvc},
        }),
      });
      const body = await response.json().catch(() => ({}));
      if (response.status !== 200 || body.error) {
        return {error: body.error || {message: 'Your card details were refused.'}};
      }
      return {paymentMethod: body};
    };
    return stripe;
  };
})();
"""


def _use_store(path: Path | None) -> None:
    """Point localstripe's pickled store at ``path``, or keep it in memory when None."""

    def load(self):
        if path is not None and path.exists():
            with path.open("rb") as f:
                self.clear()
                self.update(pickle.load(f))

    def dump(self):
        if path is None:
            return
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)

    resources.Store.try_load_from_disk = load
    resources.Store.dump_to_disk = dump


SHIPPING_ADDRESS_FIELDS = {"line1", "line2", "city", "postal_code", "country", "state"}


def _accept_payment_intent_shipping() -> None:
    """Let localstripe's PaymentIntent take ``shipping`` as Stripe does, checked as Stripe does.

    Stripe requires ``shipping[name]`` and ``shipping[address][line1]`` and knows a few
    address fields; anything else is refused with a 400, like localstripe's own checks.
    """
    create = resources.PaymentIntent.__init__
    if getattr(create, "accepts_shipping", False):
        return

    def __init__(self, *args, shipping=None, **kwargs):
        if shipping is not None:
            address = shipping.get("address") if isinstance(shipping, dict) else None
            if (
                not isinstance(address, dict)
                or not shipping.get("name")
                or not address.get("line1")
                or set(shipping) - {"name", "address", "phone", "carrier", "tracking_number"}
                or set(address) - SHIPPING_ADDRESS_FIELDS
            ):
                raise UserError(400, "Bad request: invalid shipping")
        create(self, *args, **kwargs)
        self.shipping = shipping

    __init__.accepts_shipping = True
    resources.PaymentIntent.__init__ = __init__


def _list_payment_intents_like_stripe() -> None:
    """PaymentIntents' list with Stripe's ``created`` filter and Stripe's order (newest first)."""
    bounds = {
        "gt": lambda c, v: c > v,
        "gte": lambda c, v: c >= v,
        "lt": lambda c, v: c < v,
        "lte": lambda c, v: c <= v,
    }

    def list_all(cls, url, created=None, limit=None, starting_after=None, **kwargs):
        if kwargs:
            raise UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
        if isinstance(created, str | int):
            created = {"gte": created, "lte": created}
        tests = []
        try:
            for op, value in (created or {}).items():
                tests.append((bounds[op], int(value)))
        except (KeyError, TypeError, ValueError):
            raise UserError(400, "Bad created filter") from None
        li = resources.List(url, limit=limit, starting_after=starting_after)
        items = [
            value
            for key, value in resources.store.items()
            if key.startswith(cls.object + ":")
            and all(test(value.created, bound) for test, bound in tests)
        ]
        # Newest first; in one second, the last made first (the store keeps creation order).
        li._list = list(reversed(items))
        li._list.sort(key=lambda pi: pi.created, reverse=True)
        return li

    resources.PaymentIntent._api_list_all = classmethod(list_all)


@web.middleware
async def publishable_key_middleware(request, handler):
    """Serve the two things real Stripe gives a browser that localstripe does not."""
    if request.path == "/js.stripe.com/v3/":
        source = Path(server.__file__).with_name("localstripe-v3.js").read_text()
        return web.Response(
            text=source + CREATE_PAYMENT_METHOD_JS, content_type="application/javascript"
        )
    if request.method == "POST" and request.path == "/v1/payment_methods":
        data = await server.get_post_data(request, remove_auth=False) or {}
        key = data.get("key")
        if isinstance(key, str) and key.startswith("pk_"):
            for field in ("key", "payment_user_agent", "referrer"):
                data.pop(field, None)
            try:
                payment_method = resources.PaymentMethod._api_create(**data)
            except UserError as exc:
                return exc.to_response()
            resources.store.dump_to_disk()
            return server.json_response(payment_method._export())
    return await handler(request)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--store", type=Path, default=Path("var/localstripe.pickle"))
    parser.add_argument("--memory", action="store_true", help="Keep nothing on disk.")
    args = parser.parse_args()

    store_path = None if args.memory else args.store
    if store_path is not None:
        store_path.parent.mkdir(parents=True, exist_ok=True)
    _use_store(store_path)
    _accept_payment_intent_shipping()
    _list_payment_intents_like_stripe()
    resources.store.try_load_from_disk()

    app = server.app
    app.middlewares.insert(0, publishable_key_middleware)
    logging.basicConfig(level=logging.WARNING)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
