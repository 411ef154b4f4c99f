import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { toErrorResponse, type ErrorBody } from '../common/error-response';
import { LOGGER, type AppLogger } from '../common/logger';
import { BrokerValidationPipe } from '../common/validation.pipe';
import type { ClientView } from './client-view';
import { ClientsService } from './clients.service';
import { CreateClientDto } from './dto/create-client.dto';

export interface BatchItemResult {
  index: number;
  status: number;
  client?: ClientView;
  error?: ErrorBody;
}

@Injectable()
export class ClientsBatchService {
  /** The global pipe's own rules and error shape, applied to each item as if it were a body of its own. */
  private readonly itemPipe = new BrokerValidationPipe();

  constructor(
    private readonly clients: ClientsService,
    @Inject(LOGGER) private readonly logger: AppLogger,
  ) {}

  /** One result per item, in order; a bad or conflicting item stops nothing else. */
  async create(items: readonly unknown[], actor: Principal): Promise<{ items: BatchItemResult[] }> {
    const results: BatchItemResult[] = new Array(items.length);
    const valid: { index: number; dto: CreateClientDto }[] = [];
    for (const [index, item] of items.entries()) {
      try {
        const dto: unknown = await this.itemPipe.transform(item, { type: 'body', metatype: CreateClientDto });
        valid.push({ index, dto: dto as CreateClientDto });
      } catch (error) {
        results[index] = this.failed(index, error);
      }
    }
    const created = await this.clients.createMany(
      valid.map(({ dto }) => dto),
      actor,
    );
    valid.forEach(({ index }, position) => {
      const outcome = created[position];
      results[index] = outcome instanceof Error ? this.failed(index, outcome) : { index, status: 201, client: outcome };
    });
    return { items: results };
  }

  /**
   * The item's own answer, as POST /v1/clients would have given it (a store outage included),
   * so the caller learns which items were stored and may send the others again.
   */
  private failed(index: number, error: unknown): BatchItemResult {
    const { status, body, unexpected } = toErrorResponse(error);
    if (unexpected) this.logger.error({ err: error, index }, 'unexpected error while registering a batch item');
    return { index, status, error: body };
  }
}
