"""Pitboss's URLs and `/bench/bare`: a Django view that does nothing (202, empty body) behind the full middleware
stack, which takes a pooled database connection for every request as the pixel's does. Bench processes only."""

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from backoffice import urls as site


@csrf_exempt
def bare(request):
    return HttpResponse(status=202)


urlpatterns = [path("bench/bare", bare), *site.urlpatterns]
handler400, handler403, handler404, handler500 = site.handler400, site.handler403, site.handler404, site.handler500
