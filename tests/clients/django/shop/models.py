from django.contrib.postgres.fields import ArrayField
from django.db import models

class Customer(models.Model):
    name = models.CharField(max_length=100, unique=True)
    created = models.DateTimeField(auto_now_add=True)

class Order(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="orders")
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    note = models.CharField(max_length=200, blank=True, default="")
    tags = ArrayField(models.CharField(max_length=20), blank=True, default=list)
