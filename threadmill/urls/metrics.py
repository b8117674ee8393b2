"""`path("metrics/", include("threadmill.urls.metrics"))`: the Prometheus scrape endpoint."""

from django.urls import path

from threadmill.metrics_view import metrics_view

app_name = "threadmill_metrics"
urlpatterns = [path("", metrics_view, name="metrics")]
