from django.http import HttpRequest, HttpResponse


def project_list(request: HttpRequest) -> HttpResponse:
    return HttpResponse("")
