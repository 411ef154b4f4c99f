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

/**
 * Items of one batch registered at once. ClientsService.create caps writes per
 * replica and lets overdue refreshes go first; this only keeps a few items
 * validated and waiting at its door, so a 1000-item batch never queues 1000
 * promises ahead of single registrations.
 */
const BATCH_ITEMS_IN_FLIGHT = 16;

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
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const index = next;
        next += 1;
        results[index] = await this.createOne(items[index], index, actor);
      }
    };
    await Promise.all(Array.from({ length: Math.min(BATCH_ITEMS_IN_FLIGHT, items.length) }, worker));
    return { items: results };
  }

  private async createOne(item: unknown, index: number, actor: Principal): Promise<BatchItemResult> {
    try {
      const dto = (await this.itemPipe.transform(item, { type: 'body', metatype: CreateClientDto })) as CreateClientDto;
      return { index, status: 201, client: await this.clients.create(dto, actor) };
    } catch (error) {
      // The item's own answer, as POST /v1/clients would have given it (a store outage included),
      // so the caller learns which items were stored and may send the others again.
      const { status, body, unexpected } = toErrorResponse(error);
      if (unexpected) this.logger.error({ err: error, index }, 'unexpected error while registering a batch item');
      return { index, status, error: body };
    }
  }
}
