"""Django, unmodified, against Spanlite's PostgreSQL port (the port in
$PGPORT): migrate from empty (an AlterField narrowing a column's type
among the migrations, and an ArrayField added), the ORM's
create/filter/update/delete, ArrayField lookups (contains, overlap,
len, an index), a
select_for_update() in transaction.atomic(), introspection, and migrate
back to zero (widening it again). Prints "django: ok". Run by server/node/tests/clients.rs."""
import os
import sys
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
import django
django.setup()
from django.core.management import call_command
from django.db import connection, transaction
call_command("migrate", "shop", "zero", verbosity=0)
call_command("migrate", verbosity=0)
tables = connection.introspection.table_names()
assert {"shop_customer", "shop_order", "django_migrations"} <= set(tables), tables
from shop.models import Customer, Order
ada = Customer.objects.create(name="Ada")
bob = Customer.objects.create(name="Bob")
assert ada.pk and bob.pk and ada.pk != bob.pk
Order.objects.create(customer=ada, amount=Decimal("10.50"))
Order.objects.create(customer=ada, amount=Decimal("2.25"), note="gift")
Order.objects.create(customer=bob, amount=Decimal("99.99"))
assert Order.objects.filter(customer__name="Ada").count() == 2
assert [o.amount for o in Order.objects.filter(amount__gt=5).order_by("amount")] == [Decimal("10.50"), Decimal("99.99")]
assert sorted(c.name for c in Customer.objects.filter(orders__note="gift")) == ["Ada"]
Order.objects.filter(note="gift").update(tags=["small", "red"])
Order.objects.filter(customer=bob).update(tags=["big"])
assert [o.note for o in Order.objects.filter(tags__contains=["red"])] == ["gift"]
assert Order.objects.filter(tags__overlap=["big", "red"]).count() == 2
assert Order.objects.filter(tags__len=0).count() == 1
assert Order.objects.get(tags__0="big").customer_id == bob.pk
assert Order.objects.get(customer=bob).tags == ["big"]
Order.objects.filter(customer=bob).update(amount=Decimal("1.00"))
assert Order.objects.get(customer=bob).amount == Decimal("1.00")
with transaction.atomic():
    c = Customer.objects.select_for_update().get(name="Ada")
    c.name = "Ada L."
    c.save()
assert Customer.objects.filter(name="Ada L.").exists()
try:
    with transaction.atomic():
        Customer.objects.create(name="Bob")
    raise SystemExit("a duplicate name was accepted")
except django.db.IntegrityError:
    pass
Customer.objects.filter(name="Ada L.").delete()
assert Order.objects.count() == 1 and Customer.objects.count() == 1
with connection.cursor() as cur:
    desc = connection.introspection.get_table_description(cur, "shop_order")
    assert [d.name for d in desc] == ["id", "amount", "note", "customer_id", "tags"], desc
    cur.execute("SELECT data_type, character_maximum_length FROM information_schema.columns WHERE table_name = 'shop_order' AND column_name = 'note'")
    assert cur.fetchall() == [("character varying", 200)]
    cons = connection.introspection.get_constraints(cur, "shop_order")
    fks = [v["foreign_key"] for v in cons.values() if v["foreign_key"]]
    assert fks == [("shop_customer", "id")], cons
    pk = [v["columns"] for v in cons.values() if v["primary_key"]]
    assert pk == [["id"]], cons
    cons = connection.introspection.get_constraints(cur, "shop_customer")
    unique = [v["columns"] for v in cons.values() if v["unique"] and not v["primary_key"]]
    assert ["name"] in unique, cons
call_command("migrate", "shop", "zero", verbosity=0)
assert "shop_order" not in connection.introspection.table_names()
print("django: ok")
