"""``{% free_text obj "field" %}``: a free-text field as the viewer may see it (registry/free_text.py).

``{% free_text_in obj text %}``: a text built from ``obj``'s fields (a lesion's site, a RAIR reason) with the
unreleased free texts replaced; ``{% upload_name f %}``: an uploaded file's name, or its modality and hash;
``{% free_reason history_row %}``: a history change reason; ``{% free_text_import imp text %}``: a DICOM import's
error without the upload names and the files' patient name / ID.
"""

from django import template

from registry import free_text as ft

register = template.Library()


def _user(context):
    request = context.get("request")
    return getattr(request, "user", None) or context.get("user")


@register.simple_tag(takes_context=True)
def free_text(context, obj, field, text=None):
    if obj is None or obj == "":
        return ""
    user = _user(context)
    if ft.is_free_text(obj, field):
        return ft.visible_text(user, obj, field, text)
    return ft.redact_in(user, obj, getattr(obj, field, "") if text is None else text)


@register.simple_tag(takes_context=True)
def free_text_in(context, obj, text):
    if obj is None or obj == "":
        return text
    return ft.redact_in(_user(context), obj, text)


@register.simple_tag(takes_context=True)
def upload_name(context, dicom_file):
    return ft.upload_label(_user(context), dicom_file)


@register.simple_tag(takes_context=True)
def free_text_import(context, imp, text):
    return ft.import_text(_user(context), imp, text)


@register.simple_tag(takes_context=True)
def free_reason(context, history_row):
    return ft.visible_reason(_user(context), history_row)
