package jdiffusion.server;

/**
 * A request the server refuses: its HTTP status and the JSON body {@code {error, detail, field}}
 * ({@code detail} is also where FastAPI, and so A1111 clients, look for the reason).
 */
final class ApiException extends RuntimeException {
    final int status;
    final String error;
    final String field;

    ApiException(int status, String error, String field, String detail) {
        super(detail);
        this.status = status;
        this.error = error;
        this.field = field;
    }

    /** 422: a field has a wrong type or value. */
    static ApiException invalid(String field, String detail) {
        return new ApiException(422, "invalid_field", field, detail);
    }

    static ApiException notFound(String what) {
        return new ApiException(404, "not_found", null, what);
    }
}
