"""Bad input gets the answer AWS gives it (a 4xx), never a 500 that boto3 retries four times.

This WSGI middleware sits between the guard and our layer. Before moto sees a call
it checks what AWS's front door checks, against botocore's model of the service:
that a JSON body parses (``SerializationException``), that the operation exists
(``UnknownOperationException`` / ``InvalidAction``), that the offline emulator
implements it (``UnsupportedOperation``, naming it), that required members are
present and members have their types, lengths, ranges and enum values. Whatever
still fails inside the emulator is answered 400 with a message that says so.
"""

from __future__ import annotations

import functools
import io
import json
import logging

from labkit.emulator import hooks, moto_adapter
from labkit.emulator.awsproto import AwsError, Call, error_body, parse_call

log = logging.getLogger("labkit.emulator")

# Services whose calls carry their operation in the body or a header (not REST paths like S3).
_RPC_PROTOCOLS = {"json", "query", "ec2"}


class InputErrors:
    """WSGI middleware: AWS-shaped 4xx answers for malformed, unknown and unsupported calls."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        call = _read_call(environ)
        if call is not None:
            try:
                check(call, environ)
            except AwsError as error:
                return _answer(start_response, error_body(call, error))
        return self._never_5xx(call, environ, start_response)

    def _never_5xx(self, call, environ, start_response):
        held = {}

        def hold_5xx(status, headers, exc_info=None):
            if status.startswith("5") and call is not None:
                held["status"] = status
                return lambda data: None
            return start_response(status, headers, exc_info)

        result = self.app(environ, hold_5xx)
        if not held:
            return result
        body = b"".join(result)
        if hasattr(result, "close"):
            result.close()
        log.error("5xx from the emulator on %s %s: %s", call.service, call.operation, body[:2000])
        name = f"{call.service} {call.operation}".strip()
        error = AwsError("InternalFailure",
                         f"The offline emulator failed on {name}: it does not handle this input "
                         "(details in the emulator's log). Retrying will not help.")
        return _answer(start_response, error_body(call, error))


def check(call: Call, environ: dict) -> None:
    """Raise the AwsError with which AWS would refuse ``call`` before doing anything."""
    model = _service_model(call.service)
    if model is None or model.protocol not in _RPC_PROTOCOLS:
        return
    if model.protocol == "json":
        if call.params is None:
            raise AwsError("SerializationException", "The request body is not a valid JSON object.")
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        prefix = model.metadata.get("targetPrefix", "")
        if not call.operation or not target.startswith(prefix + "."):
            raise AwsError("UnknownOperationException", f"Unknown operation {target or '(none)'}.")
    elif not call.operation:
        raise AwsError("MissingAction", "The request must contain the parameter Action.")
    if call.operation not in model.operation_names:
        if model.protocol == "json":
            raise AwsError("UnknownOperationException", f"Unknown operation {call.operation}.")
        raise AwsError("InvalidAction", f"The action {call.operation} is not valid for this web service.")
    if not implemented(call.service, call.operation):
        raise AwsError("UnsupportedOperation",
                       f"{call.operation} is not implemented by the lab's offline emulator "
                       f"({call.service}); it works only against AWS (live mode).")
    shape = model.operation_model(call.operation).input_shape
    if shape is None:
        return
    if model.protocol == "json":
        _check_json(shape, call.params, _VALIDATION_CODE.get(call.service, "ValidationException"))
    else:
        _check_query(model.protocol, shape, call.params)


def implemented(service: str, operation: str) -> bool:
    """Whether our layer or moto answers ``operation`` (else moto raises NotImplementedError)."""
    return (service, operation) in hooks.BEFORE or moto_adapter.implements(service, operation)


@functools.cache
def _service_model(service: str):
    from botocore.exceptions import DataNotFoundError

    try:
        return _botocore().get_service_model(service)
    except DataNotFoundError:  # UnknownServiceError is one: a scope naming no AWS service
        return None


@functools.lru_cache(maxsize=1)
def _botocore():
    import botocore.session

    return botocore.session.get_session()


# ---- JSON protocol (CloudWatch Logs, SSM) ------------------------------------------------------

# The error code a JSON service gives a member that breaks its model's constraints (null, length,
# range, enum). CloudWatch Logs says InvalidParameterException, with the same "1 validation error
# detected: ..." message ("PutLogEvents - Amazon CloudWatch Logs" lists it; e.g. 10,001 events is
# "Member must have length less than or equal to 10000"); SSM says ValidationException.
_VALIDATION_CODE = {"logs": "InvalidParameterException"}

_JSON_TYPES = {
    "string": (str,), "blob": (str,), "boolean": (bool,), "structure": (dict,), "map": (dict,),
    "list": (list,), "integer": (int,), "long": (int,), "float": (int, float), "double": (int, float),
    "timestamp": (int, float, str),
}


def _check_json(shape, value, code: str, path: str = "") -> None:
    expected = _JSON_TYPES.get(shape.type_name, (object,))
    wrong_bool = isinstance(value, bool) and bool not in expected
    if value is None or not isinstance(value, expected) or wrong_bool:
        raise AwsError("SerializationException",
                       f"{path or 'the request'}: expected {shape.type_name}, got {type(value).__name__}")
    _check_constraints(shape, value, path, code)
    if shape.type_name == "structure":
        for name in shape.required_members:
            if value.get(name) is None:
                raise AwsError(code, _must_not_be_null(_join(path, name)))
        for name, member in shape.members.items():
            if value.get(name) is not None:
                _check_json(member, value[name], code, _join(path, name))
    elif shape.type_name == "list":
        for index, item in enumerate(value):  # AWS names the n-th item 'list.n.member'
            _check_json(shape.member, item, code, f"{path}.{index + 1}.member")
    elif shape.type_name == "map":
        for key, item in value.items():
            _check_json(shape.value, item, code, f"{path}.{key}")


def _check_constraints(shape, value, path: str, code: str) -> None:
    meta = shape.metadata
    sized = shape.type_name in ("string", "list", "map", "blob")
    if not sized and shape.type_name not in ("integer", "long", "float", "double"):
        return
    measure, what = (len(value), "length") if sized else (value, "value")
    shown = "" if sized else f" '{value}'"
    if "min" in meta and measure < meta["min"]:
        raise AwsError(code, _violation(shown, path, f"Member must have {what} greater than or equal to "
                                                     f"{meta['min']}"))
    if "max" in meta and measure > meta["max"]:
        raise AwsError(code, _violation(shown, path, f"Member must have {what} less than or equal to "
                                                     f"{meta['max']}"))
    if shape.type_name == "string" and shape.enum and value not in shape.enum:
        raise AwsError(code, _violation(f" '{value}'", path,
                                        f"Member must satisfy enum value set: [{', '.join(shape.enum)}]"))


def _violation(shown: str, path: str, constraint: str) -> str:
    # AWS's wording for a model constraint it enforces at its front door.
    return (f"1 validation error detected: Value{shown} at '{path or 'the request'}' failed to satisfy "
            f"constraint: {constraint}")


# ---- query protocols (EC2, IAM, STS) -----------------------------------------------------------


def _check_query(protocol: str, shape, params: dict) -> None:
    for name, member in shape.members.items():
        wire = _query_name(protocol, name, member)
        present = [key for key in params if key == wire or key.startswith(wire + ".")]
        if not present:
            if name in shape.required_members:
                if protocol == "ec2":
                    raise AwsError("MissingParameter", f"The request must contain the parameter {wire}")
                raise AwsError("ValidationError", _must_not_be_null(_lower_first(name)))
            continue
        if wire in params and member.type_name != "string":
            _check_query_scalar(protocol, member, wire, params[wire])
        elif wire in params:
            code = "InvalidParameterValue" if protocol == "ec2" else "ValidationError"
            _check_constraints(member, params[wire], wire, code)


def _check_query_scalar(protocol: str, member, wire: str, raw) -> None:
    code = "InvalidParameterValue" if protocol == "ec2" else "ValidationError"
    if isinstance(raw, list):
        raise AwsError(code, f"The parameter {wire} was given more than once")
    kind = member.type_name
    if kind in ("integer", "long"):
        try:
            value = int(raw)
        except ValueError:
            raise AwsError(code, f"Invalid value '{raw}' for {wire}: not an integer") from None
        _check_constraints(member, value, wire, code)
    elif kind == "boolean" and raw.lower() not in ("true", "false"):
        raise AwsError(code, f"Invalid value '{raw}' for {wire}: not a boolean")


def _query_name(protocol: str, name: str, member) -> str:
    if protocol != "ec2":
        return name
    if member.serialization.get("queryName"):
        return member.serialization["queryName"]
    located = member.serialization.get("name")
    return located[0].upper() + located[1:] if located else name


# ---- helpers -----------------------------------------------------------------------------------


def _read_call(environ) -> Call | None:
    # Read the body once and put it back, so that the layer and moto read it again normally.
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = b""
    if length:  # a streamed (chunked) S3 upload has no length: leave its stream alone
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
    call = parse_call(environ, body)
    if call is not None and environ.get("HTTP_X_AMZ_TARGET"):
        call.params = _json_object(body)
    return call


def _json_object(body: bytes) -> dict | None:
    try:
        value = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _must_not_be_null(where: str) -> str:
    return _violation(" null", where, "Member must not be null")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _answer(start_response, answer):
    status, headers, body = answer
    start_response(status, headers)
    return [body]
