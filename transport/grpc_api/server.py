"""The public gRPC server (port 6334): auth, errors, ``time`` and metrics around the route table."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import grpc
import orjson

from consensus import errors
from transport.grpc_api.routes import ROUTES, Route
from transport.rest.auth import ApiKeyPolicy
from transport.rest.call import ApiCall
from transport.rest.envelope import RESULT_SINK

logger = logging.getLogger(__name__)

CODE_BY_ERROR: dict[type[errors.DomainError], grpc.StatusCode] = {
    errors.BadInput: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.Forbidden: grpc.StatusCode.PERMISSION_DENIED,
    errors.Unauthorized: grpc.StatusCode.UNAUTHENTICATED,
    errors.PreconditionFailed: grpc.StatusCode.FAILED_PRECONDITION,
    errors.ServiceUnavailable: grpc.StatusCode.UNAVAILABLE,
    errors.Timeout: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.RateLimited: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.InternalError: grpc.StatusCode.INTERNAL,
}


def code_for(error: errors.DomainError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in CODE_BY_ERROR:
            return CODE_BY_ERROR[cls]
    return grpc.StatusCode.INTERNAL


_ERROR_BY_STATUS: dict[int, type[errors.DomainError]] = {
    400: errors.BadInput,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    408: errors.Timeout,
    409: errors.AlreadyExists,
    429: errors.RateLimited,
    503: errors.ServiceUnavailable,
}


def _error_for_status(status: int, body: Any) -> errors.DomainError:
    message = body.get("status", {}).get("error") if isinstance(body, dict) else None
    if not isinstance(message, str):
        message = f"request failed with HTTP status {status}"
    return _ERROR_BY_STATUS.get(status, errors.InternalError)(message)


class _Metadata(dict):
    """Invocation metadata with case-insensitive lookup (gRPC keys are lower case)."""

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


class PublicGrpcServer:
    """Serves :data:`transport.grpc_api.routes.ROUTES` with grpc.aio on one port."""

    def __init__(self, host: str, port: int, ctx: Any, auth: ApiKeyPolicy, max_message_mb: int = 64) -> None:
        self._address = f"{host}:{port}"
        self._ctx = ctx
        self._app = {"ctx": ctx}
        self._auth = auth
        self._max_bytes = max_message_mb * 1024 * 1024
        self._server: grpc.aio.Server | None = None

    async def start(self) -> None:
        from transport.grpc_api import services  # noqa: F401  (registers the routes)

        options = [
            ("grpc.max_receive_message_length", self._max_bytes),
            ("grpc.max_send_message_length", self._max_bytes),
            ("grpc.so_reuseport", 0),
        ]
        self._server = grpc.aio.server(options=options)
        by_service: dict[str, dict[str, Any]] = {}
        for route in ROUTES:
            by_service.setdefault(route.service, {})[route.name] = self._method_handler(route)
        self._server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(service, handlers) for service, handlers in by_service.items()]
        )
        if self._server.add_insecure_port(self._address) == 0:
            raise RuntimeError(f"cannot listen for gRPC on {self._address}")
        await self._server.start()
        logger.info("gRPC API listening on %s", self._address)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=1.0)

    def _method_handler(self, route: Route) -> Any:
        decode = route.request.FromString
        encode = route.reply.SerializeToString
        if route.streaming:
            return grpc.unary_stream_rpc_method_handler(self._streaming(route), decode, encode)
        return grpc.unary_unary_rpc_method_handler(self._unary(route), decode, encode)

    def _streaming(self, route: Route) -> Callable:
        async def serve(request: Any, context: grpc.aio.ServicerContext) -> Any:
            async for reply in route.direct(self._ctx, request):  # type: ignore[misc]
                yield reply

        return serve

    def _unary(self, route: Route) -> Callable:
        metrics = self._ctx.metrics
        endpoint = route.path

        async def serve(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            failure: tuple[grpc.StatusCode, str] | None = None
            trailers: tuple[tuple[str, str], ...] = ()
            reply = None
            try:
                reply = await self._run(route, request, context, started)
            except errors.DomainError as exc:
                failure = (code_for(exc), exc.message)
                retry_after = getattr(exc, "retry_after", None)
                if retry_after is not None:  # rate limits: like REST's Retry-After header
                    trailers = (("retry-after", str(retry_after)),)
            except Exception:  # the node must survive any request
                logger.exception("unhandled error serving %s", endpoint)
                failure = (grpc.StatusCode.INTERNAL, "Service internal error: unexpected failure")
            metrics.observe_grpc(endpoint, failure is not None, time.perf_counter() - started)
            if failure is not None:
                await context.abort(failure[0], failure[1], trailers)
            return reply

        return serve

    async def _run(self, route: Route, request: Any, context: grpc.aio.ServicerContext, started: float) -> Any:
        if route.direct is not None:
            return await route.direct(self._ctx, request)
        rest = route.to_call(request)  # type: ignore[misc]
        headers = _Metadata((key.lower(), value) for key, value in context.invocation_metadata() or ())
        self._auth.check(rest.method, rest.path, headers)
        call = ApiCall(self._app, rest.method, rest.path, rest.match_info, rest.query, rest.body, headers)
        call["started"] = started
        sink: list[Any] = []
        token = RESULT_SINK.set(sink if route.envelope else None)
        try:
            response = await route.handler(call)  # type: ignore[misc]
        finally:
            RESULT_SINK.reset(token)
        if sink:
            result = sink[0]
        else:
            body = orjson.loads(response.body) if response.body else None
            if response.status >= 400:  # a handler that answered an error instead of raising one
                raise _error_for_status(response.status, body)
            result = body.get("result") if route.envelope and isinstance(body, dict) else body
        reply = route.reply()
        route.to_reply(reply, result)
        if "time" in reply.DESCRIPTOR.fields_by_name:
            reply.time = time.perf_counter() - started
        return reply
