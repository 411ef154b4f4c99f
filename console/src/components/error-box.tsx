import type { ApiError } from '../api';

/** An API error as a person reads it: the broker's message, and each bad field. */
export function ErrorBox({ error }: { error: ApiError | null }) {
  if (error === null) return null;
  return (
    <div class="error-box" role="alert">
      <p>{error.message}</p>
      {error.details.length > 0 && (
        <ul>
          {error.details.map((detail) => (
            <li key={detail.field}>
              <strong>{detail.field}</strong>: {detail.problems.join('; ')}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
